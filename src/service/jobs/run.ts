/** One claimed job running on this node (see supervisor.ts): its claim, its worker's control word, what it learned. */
import type { WorkerMessage } from '../../training/protocol.js';
import type { Fence, JobRecord } from './types.js';

export type StopReason = 'drain' | 'timeout' | 'cancel' | 'quota' | 'store_error' | 'lost';
/** A stronger reason replaces a weaker one. */
export const STOP_RANK: Record<StopReason, number> = { drain: 0, timeout: 1, cancel: 2, quota: 3, store_error: 4, lost: 5 };

export interface Run {
  job: JobRecord;
  fence: Fence;
  control: Int32Array;
  abort: AbortController;
  stopReason: StopReason | null;
  graceTimer: NodeJS.Timeout | null;
  heartbeat: NodeJS.Timeout | null;
  end: Extract<WorkerMessage, { type: 'end' }> | null;
  /** Serialises the handling of worker messages: store writes and events happen in the order they were posted. */
  chain: Promise<void>;
  done: Promise<void>;
  launchedAt: number;
  firstEpoch: number;
  /** The first store write that failed during training: the job stops and fails, so its history has no gaps. */
  storeError: string | null;
  /** A checkpoint that would have crossed the tenant's storage quota: the job stops and fails with this message. */
  quotaError: string | null;
}
