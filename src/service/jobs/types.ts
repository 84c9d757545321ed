/**
 * The seam between the HTTP layer (routes) and the job runtime (store, pool, training). Routes depend only on
 * these types; the runtime implements them. Tenancy is part of every call so that no route can forget it.
 */
import type { JobSpec } from '../../spec/job-spec.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface JobError {
  /** Machine-readable: 'diverged' | 'worker_crashed' | 'timeout' | 'invalid_data' | 'store_error' | 'internal' | ... */
  code: string;
  message: string;
}

export interface JobRecord {
  id: string;
  tenant: string;
  name: string | null;
  status: JobStatus;
  /** Normalised spec, with the resolved seed (a job without a seed gets one drawn and recorded, so it can be replayed). */
  spec: JobSpec & { seed: number };
  epoch: number; // epochs completed
  epochs: number;
  lastLoss: number | null;
  createdAt: string; // ISO 8601
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  error: JobError | null;
  /** Monotonic counter bumped on every state change; used for optimistic updates and cursor stability. */
  version: number;
}

export interface EpochEvent {
  epoch: number; // 1-based: the epoch that just finished
  loss: number;
  /** Wall-clock ms since the job started running. */
  elapsedMs: number;
}

export type StreamMessage =
  | { type: 'epoch'; epoch: number; loss: number }
  | { type: 'status'; status: JobStatus; epoch: number; epochs: number; lastLoss: number | null; error: JobError | null }
  | { type: 'dropped'; count: number; reason: string };

export interface CheckpointInfo {
  epoch: number;
  createdAt: string;
  bytes: number;
  /** 'final' for the trained state dict, 'periodic' for checkpointEvery snapshots. */
  kind: 'final' | 'periodic';
}

export interface DatasetRecord {
  id: string;
  tenant: string;
  name: string | null;
  rows: number;
  inputDim: number;
  outputDim: number;
  columns: { x: string[]; y: string[] } | null;
  createdAt: string;
  bytes: number;
}

export interface Dataset extends DatasetRecord {
  x: number[][];
  y: number[][];
}

export interface ListJobsQuery {
  tenant: string;
  status?: JobStatus;
  limit: number;
  /** Opaque cursor returned by a previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Durable storage. The embedded default is SQLite (src/service/store/sqlite.ts); a PostgreSQL implementation must be
 * possible without touching routes, so everything is async and nothing leaks SQL types.
 */
export interface JobStore {
  createJob(job: JobRecord, idempotencyKey?: string): Promise<{ job: JobRecord; created: boolean }>;
  getJob(tenant: string, id: string): Promise<JobRecord | null>;
  listJobs(query: ListJobsQuery): Promise<Page<JobRecord>>;
  /** Jobs the runtime must pick up after a restart (queued, or running when the process died). Any tenant. */
  listUnfinishedJobs(): Promise<JobRecord[]>;
  updateJob(id: string, patch: Partial<Omit<JobRecord, 'id' | 'tenant' | 'spec' | 'createdAt'>>): Promise<JobRecord>;
  deleteJob(tenant: string, id: string): Promise<boolean>;

  /** Atomically appends the batch and sets the job's `epoch`/`lastLoss` to its last event. */
  appendEpochs(jobId: string, events: EpochEvent[]): Promise<void>;
  /** Epochs >= fromEpoch in order, at most `limit` of them (all when absent). */
  getEpochs(jobId: string, fromEpoch?: number, limit?: number): Promise<EpochEvent[]>;

  putCheckpoint(jobId: string, info: CheckpointInfo, safetensors: Uint8Array, resumeState?: Uint8Array): Promise<void>;
  listCheckpoints(jobId: string): Promise<CheckpointInfo[]>;
  /** epoch undefined: the final checkpoint if there is one, else the latest periodic one. */
  getCheckpoint(jobId: string, epoch?: number): Promise<{ info: CheckpointInfo; safetensors: Uint8Array } | null>;
  /** The newest checkpoint carrying optimizer/generator state, for resuming an interrupted job. */
  getResumeState(jobId: string): Promise<{ epoch: number; safetensors: Uint8Array; resumeState: Uint8Array } | null>;
  /**
   * Replace the job's crash-recovery snapshot (not a user-visible checkpoint). Dropped automatically when the job
   * reaches a terminal status.
   */
  putResumeState(jobId: string, epoch: number, safetensors: Uint8Array, resumeState: Uint8Array): Promise<void>;
  /** The job a tenant created with this Idempotency-Key, if any (so a retry can be answered before any queue check). */
  findJobByIdempotencyKey(tenant: string, key: string): Promise<JobRecord | null>;

  createDataset(dataset: Dataset): Promise<DatasetRecord>;
  getDataset(tenant: string, id: string): Promise<Dataset | null>;
  getDatasetRecord(tenant: string, id: string): Promise<DatasetRecord | null>;
  deleteDataset(tenant: string, id: string): Promise<boolean>;

  /** Bytes stored by a tenant (jobs, epochs, checkpoints, datasets), for quotas. */
  tenantUsage(tenant: string): Promise<{ bytes: number; queued: number; running: number }>;
  close(): Promise<void>;
}

/** What routes call. Implemented by the job runtime (src/service/jobs/manager.ts). */
export interface JobManager {
  submit(tenant: string, spec: JobSpec, idempotencyKey?: string): Promise<{ job: JobRecord; created: boolean }>;
  get(tenant: string, id: string): Promise<JobRecord | null>;
  list(query: ListJobsQuery): Promise<Page<JobRecord>>;
  metrics(tenant: string, id: string): Promise<EpochEvent[] | null>;
  cancel(tenant: string, id: string): Promise<JobRecord | null>;
  delete(tenant: string, id: string): Promise<boolean>;
  /**
   * Replay of every epoch so far, then live messages, then one final status message, then `onClose`. A subscriber
   * that falls more than the configured buffer behind gets a 'dropped' message (see README: slow consumers).
   * Returns the unsubscribe function, or null when the job does not exist for this tenant.
   */
  subscribe(
    tenant: string,
    id: string,
    subscriber: { send(message: StreamMessage): boolean; close(): void; bufferedAmount(): number },
  ): Promise<(() => void) | null>;
  predict(tenant: string, id: string, x: number[][]): Promise<number[][]>;
  /** Start dispatching (resuming interrupted jobs); stop drains within the deadline. */
  start(): Promise<void>;
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /**
   * Optional (added by the HTTP layer for GET /readyz): whether the pool is started and can run jobs, and if not why.
   * Absent means "ready whenever the store answers".
   */
  ready?(): Promise<{ ready: boolean; reason?: string }>;
}
