interface CheckpointItem {
  epoch: number;
  kind: string;
}
interface JobLike {
  status: string;
  epoch: number;
  epochs: number;
  error?: { code: string } | null;
  spec: { checkpointEvery?: number };
}
export function newestCheckpoint<T extends CheckpointItem>(items: T[]): T | null;
export function noLineYet(job: JobLike): string;
export function noCheckpointReason(job: JobLike): string;
export function predictDefault(
  spec: { model: { inputDim: number; outputDim: number }; data: { kind: string; rows?: number } },
  first?: number[],
): { text: string; shape: string };
