/**
 * What the job runtime and a training worker say to each other. Plain structured-clone data: the worker runs in a
 * worker thread (Piscina), epoch events and checkpoints come back over a MessagePort, and a SharedArrayBuffer holds
 * the control word that the worker reads between epochs (no message round-trip needed to cancel).
 */
import type { MessagePort } from 'node:worker_threads';
import type { AnyJobSpec, TrainableSpec } from '../spec/job-spec.js';

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
  /** The job's spec; a stored spec's inline rows come in `data` and `validationData`. */
  spec: TrainableSpec;
  /** Rows of a `dataset` job or a stored `inline` one, resolved by the runtime (the worker has no store). */
  data?: TrainingData;
  /** Rows of a `training.validation` of kind `dataset` (or stored `inline`), resolved by the runtime likewise. */
  validationData?: TrainingData;
  /**
   * `warmStart`: the state dict (safetensors, PyTorch names) the runtime resolved from the source job's checkpoint.
   * It replaces the model's initial weights after the seed has drawn the data and the weights; ignored when
   * resuming (the resume point has the weights). Names and shapes must fit the model, else the job ends invalid_data.
   */
  initialWeights?: Uint8Array;
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
  /**
   * With `training.validation`: the loss over the validation rows after the epoch's update(s) (no gradient, the
   * job's loss function, one batch); null when it was not finite. Absent without validation.
   */
  valLoss?: number | null;
  elapsedMs: number;
}

/** How the data was split (posted once, after 'started', when the job has `training.validation`). */
export interface SplitReport {
  type: 'split';
  /** Rows trained on and validated on. */
  trainRows: number;
  validationRows: number;
  /** `fraction` only: the held-out row indices of the data, ascending (see src/training/data.ts splitData). */
  validationIndices: number[] | null;
}

export type WorkerMessage =
  /** The worker has loaded and begins building the model: thread start-up is over. */
  | { type: 'started' }
  | SplitReport
  | { type: 'epochs'; events: EpochReport[] }
  /** A checkpointEvery snapshot (user-visible) that is also a resume point. */
  | { type: 'checkpoint'; epoch: number; safetensors: Uint8Array; resumeState: Uint8Array }
  /** A crash-recovery snapshot only. */
  | { type: 'resume'; epoch: number; safetensors: Uint8Array; resumeState: Uint8Array }
  | {
      type: 'end';
      outcome: 'succeeded';
      /** Epochs trained (the early-stopping epoch when stoppedEarly). */
      epoch: number;
      loss: number | null;
      /** The final checkpoint: the last epoch's weights, or with early stopping the best epoch's (see `best`). */
      safetensors: Uint8Array;
      /** With validation: the last epoch's valLoss (null when not finite). */
      valLoss?: number | null;
      /** With early stopping: the epoch whose weights `safetensors` holds, and its valLoss. */
      best?: { epoch: number; valLoss: number };
      /** Set when early stopping ended training before training.epochs. */
      stoppedEarly?: { epoch: number; bestEpoch: number };
    }
  | { type: 'end'; outcome: 'cancelled' | 'interrupted'; epoch: number }
  | { type: 'end'; outcome: 'diverged'; epoch: number; loss: number; message: string }
  | { type: 'end'; outcome: 'invalid_data'; epoch: number; message: string };

export interface PredictTask {
  spec: AnyJobSpec;
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
