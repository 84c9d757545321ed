/**
 * What the job runtime and a training worker say to each other. Plain structured-clone data: the worker runs in a
 * worker thread (Piscina), epoch events and checkpoints come back over a MessagePort, and a SharedArrayBuffer holds
 * the control word that the worker reads between epochs (no message round-trip needed to cancel).
 */
import type { MessagePort } from 'node:worker_threads';
import type { JobSpec } from '../spec/job-spec.js';

/** Values of the control word (Int32Array over `TrainTask.control`, index 0). */
export const Control = {
  RUN: 0,
  /** Stop after the current epoch: the job is cancelled (or timed out; the runtime knows which). */
  CANCEL: 1,
  /** Stop after the current epoch with a resume snapshot: the service is draining, the job continues elsewhere. */
  SNAPSHOT_AND_STOP: 2,
} as const;

export interface ResumePoint {
  epoch: number;
  /** The model's state dict (safetensors). */
  safetensors: Uint8Array;
  /** Optimizer state, generator state and epoch (see src/training/snapshot.ts). */
  resumeState: Uint8Array;
}

export interface TrainingData {
  n: number;
  /** Row-major [n, inputDim] and [n, outputDim]. */
  x: Float32Array;
  y: Float32Array;
}

export interface TrainTask {
  jobId: string;
  spec: JobSpec & { seed: number };
  /** Rows of a `dataset` job, resolved by the runtime (the worker has no store). */
  data?: TrainingData;
  resume?: ResumePoint;
  port: MessagePort;
  control: SharedArrayBuffer;
  /** Date.now() when the job first started running: epoch events report time since then. */
  startedAtMs: number;
  /** Epoch events are coalesced and posted at most this often (and always before a checkpoint or the end). */
  flushMs: number;
  /** A crash-recovery snapshot is posted at least this often while training. 0 disables. */
  resumeSnapshotMs: number;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  elapsedMs: number;
}

export type WorkerMessage =
  /** The worker has loaded and begins building the model: thread start-up is over. */
  | { type: 'started' }
  | { type: 'epochs'; events: EpochReport[] }
  /** A checkpointEvery snapshot (user-visible) that is also a resume point. */
  | { type: 'checkpoint'; epoch: number; safetensors: Uint8Array; resumeState: Uint8Array }
  /** A crash-recovery snapshot only. */
  | { type: 'resume'; epoch: number; safetensors: Uint8Array; resumeState: Uint8Array }
  | { type: 'end'; outcome: 'succeeded'; epoch: number; loss: number | null; safetensors: Uint8Array }
  | { type: 'end'; outcome: 'cancelled' | 'interrupted'; epoch: number }
  | { type: 'end'; outcome: 'diverged'; epoch: number; loss: number; message: string }
  | { type: 'end'; outcome: 'invalid_data'; epoch: number; message: string };

export interface PredictTask {
  spec: JobSpec;
  safetensors: Uint8Array;
  /** Identifies the checkpoint's content (checkpoints are immutable): lets a worker reuse a model it loaded. */
  cacheKey?: string;
  /** Row-major [rows, inputDim]. */
  x: Float32Array;
  rows: number;
}

export interface PredictResult {
  /** Row-major [rows, outputDim]. */
  y: Float32Array;
  outputDim: number;
}
