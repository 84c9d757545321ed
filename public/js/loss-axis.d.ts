export function logTicks(min: number, max: number, maxTicks: number): number[];
export function tickLabels(ticks: Array<number | null>, log: boolean): string[];
export function spansDecades(losses: Array<number | null>, decades?: number): boolean;
