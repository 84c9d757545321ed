export function formatLoss(loss: number | null | undefined): string;
export function formatDuration(ms: number | null | undefined): string;
export function estimateEtaMs(samples: Array<[number, number]>, epochs: number): number | null;
export function formatAgo(iso: string, now?: number): string;
export const TERMINAL: string[];
