export function formatLoss(loss: number | null | undefined): string;
export function formatDuration(ms: number | null | undefined): string;
export function shortId(id: string): string;
export function jobLabel(job: { id: string; name: string | null; spec?: { model?: { kind?: string } } }): string;
export function formatAgo(iso: string, now?: number): string;
export const TERMINAL: string[];
