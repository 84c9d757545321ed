/**
 * The seam between the HTTP layer (routes) and the job runtime (store, pool, training). Routes depend only on
 * these types; the runtime implements them. Tenancy is part of every call so that no route can forget it.
 */
import type { JobSpec, StoredJobSpec } from '../../spec/job-spec.js';

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
  /**
   * Normalised spec, with the resolved seed (a job without a seed gets one drawn and recorded, so it can be replayed)
   * and its inline rows summarised: the rows are stored apart (JobStore.getJobRows).
   */
  spec: StoredJobSpec;
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
  /** What the run recorded beyond its status: the validation split, early stopping, the warm start's source. */
  details?: JobDetails | null;
}

export interface JobDetails {
  /** With training.validation: how many rows trained and validated, and how they were chosen. */
  split?: { trainRows: number; validationRows: number; rule: string };
  /** Early stopping ended training at `epoch`; the final checkpoint holds `bestEpoch`'s weights. */
  stoppedEarly?: { epoch: number; bestEpoch: number };
  /** With validation: the epoch with the lowest valLoss (the final checkpoint's weights under early stopping). */
  best?: { epoch: number; valLoss: number };
  /** warmStart, resolved at submission: the checkpoint the job started from. */
  warmStart?: { jobId: string; epoch: number; kind: 'final' | 'periodic' };
}

export interface EpochEvent {
  epoch: number; // 1-based: the epoch that just finished
  loss: number;
  /** Loss on the validation rows, when the job has validation data. */
  valLoss?: number | null;
  /** Wall-clock ms since the job started running. */
  elapsedMs: number;
}

export type StreamMessage =
  | { type: 'epoch'; epoch: number; loss: number; valLoss?: number | null }
  | {
      type: 'status';
      status: JobStatus;
      epoch: number;
      epochs: number;
      lastLoss: number | null;
      error: JobError | null;
      /** The server closed the stream before the job ended (shutdown): what happens to the job, and what to do. */
      closing?: string;
    }
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

/** Which inline rows of a job: its training data, or its `training.validation` rows. */
export type RowsPart = 'data' | 'validation';

/** Rows as stored: float64 little-endian, row-major (exact for any JSON number). */
export interface PackedRows {
  rows: number;
  inputDim: number;
  outputDim: number;
  x: Uint8Array;
  y: Uint8Array;
}

/** A job's inline rows, stored beside its record. */
export type JobRows = Partial<Record<RowsPart, PackedRows>>;

export interface ListJobsQuery {
  tenant: string;
  status?: JobStatus;
  /** Only jobs carrying this tag. */
  tag?: string;
  /** Only jobs whose name contains this text (case-insensitive). */
  name?: string;
  limit: number;
  /** Opaque cursor returned by a previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * One claim of a job by a worker: the fencing token. `attempt` is bumped by every claim, and every write a run makes
 * carries its fence: a worker whose lease ran out (it was paused, or cut off) and whose job was claimed again can no
 * longer write epochs, checkpoints or a status (the write throws LeaseLostError).
 */
export interface Fence {
  jobId: string;
  attempt: number;
}

export interface Claim {
  job: JobRecord;
  fence: Fence;
}

/** What a lease renewal learns: whether the claim still holds, and whether someone asked the job to stop. */
export interface LeaseState {
  held: boolean;
  cancelRequested: boolean;
}

/**
 * The queue is the jobs table itself (no second copy of job state): a worker claims the next job in fair order
 * (the tenant with the fewest running jobs first, then the tenant served longest ago, then the oldest job) and holds
 * a lease on it that it renews; a job whose lease ran out is claimable again and resumes from its newest resume point.
 */
export interface JobQueue {
  /**
   * Claims the next runnable job: a queued one, or a running one whose lease expired. The job becomes 'running'
   * (startedAt set on its first claim), its attempt is bumped and it is leased to `owner` for `leaseMs`.
   */
  claimNext(owner: string, leaseMs: number): Promise<Claim | null>;
  /** Extends the lease while the fence holds (held: false once the job was claimed again, deleted or finished). */
  renewLease(fence: Fence, leaseMs: number): Promise<LeaseState>;
  /**
   * Fenced update of a claimed job. A status other than 'running' ends the claim (the lease is cleared; 'queued'
   * hands the job back to the queue). Throws LeaseLostError when the fence no longer holds.
   */
  updateRun(fence: Fence, patch: RunPatch): Promise<JobRecord>;
  /** Jobs waiting to be claimed, all tenants (the queue limit). */
  countQueued(): Promise<number>;
  /** Running jobs of all tenants (for Retry-After estimates), at most `limit`. */
  listRunning(limit: number): Promise<JobRecord[]>;
  /**
   * Cancel: a queued job becomes 'cancelled' at once (cancelledNow); a running one is flagged, and its worker stops
   * it after the current epoch. Null when the job does not exist for this tenant.
   */
  requestCancel(tenant: string, id: string, now: string): Promise<{ job: JobRecord; cancelledNow: boolean } | null>;
}

export type RunPatch = Partial<Pick<JobRecord, 'status' | 'epoch' | 'lastLoss' | 'startedAt' | 'finishedAt' | 'error' | 'details'>>;

/** One webhook delivery of a job's end (see src/service/webhooks/dispatcher.ts and docs/service.md, Webhooks). */
export type WebhookEvent = 'job.succeeded' | 'job.failed' | 'job.cancelled';
export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  /** Also the body's `id` and the Gradloom-Delivery header: receivers de-duplicate on it. */
  id: string;
  jobId: string;
  tenant: string;
  url: string;
  event: WebhookEvent;
  /** The exact JSON body sent on every attempt (built when the job ended). */
  payload: string;
  status: WebhookDeliveryStatus;
  /** Attempts started so far (a claim counts one, even if its node died before recording the outcome). */
  attempts: number;
  /** ms since the epoch, on the store's clock: when the next attempt is due (pending only). */
  nextAttemptAt: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** What one attempt came to. `retryInMs`: pending again, due after that long (store clock); absent: failed for good. */
export type WebhookAttemptOutcome =
  | { delivered: true; statusCode: number }
  | { delivered: false; statusCode: number | null; error: string; retryInMs?: number };

/**
 * Webhook deliveries. A job whose spec names a webhook gets its delivery row in the SAME transaction as its terminal
 * status (updateRun to succeeded/failed/cancelled, requestCancel of a queued job): once the end is committed, so is
 * the delivery (at least once).
 */
export interface WebhookStore {
  /**
   * Leases up to `limit` pending deliveries that are due and not leased (or whose lease ran out) for `leaseMs`,
   * bumping their attempts; oldest due first. Concurrent claimers (any node) never get the same delivery.
   */
  claimWebhookDeliveries(limit: number, leaseMs: number): Promise<WebhookDelivery[]>;
  /**
   * Records the outcome of the attempt numbered `attempt` (the claim's `attempts`). False (nothing written) when
   * that attempt is no longer the delivery's current one (its lease ran out and another node took it) or the
   * delivery is gone.
   */
  recordWebhookAttempt(id: string, attempt: number, outcome: WebhookAttemptOutcome): Promise<boolean>;
  /** A job's deliveries, oldest first (tenant-scoped: another tenant's job has none). */
  listWebhookDeliveries(tenant: string, jobId: string): Promise<WebhookDelivery[]>;
  /**
   * A random 32-byte key every node of the deployment shares, drawn by the first caller for `name` and kept in the
   * store: the webhook signing key when WEBHOOK_SECRET is unset (it must outlive restarts, or every tenant's secret
   * would change), the stream-token HMAC key. Both stores have it (SQLite since migration 4).
   */
  sharedSecret(name: string): Promise<Buffer>;
}

/**
 * Durable storage. The embedded default is SQLite (src/service/store/sqlite.ts); PostgreSQL
 * (src/service/store/postgres.ts) serves many nodes. Everything is async and nothing leaks SQL types. The run's
 * writes (epochs, checkpoints, resume points, status) are fenced.
 */
export interface JobStore extends JobQueue, WebhookStore {
  /** 'sqlite' or 'postgres', for logs and /readyz. */
  readonly kind: string;
  /** The job and its inline rows, in one transaction (when the key was used already: that job, nothing written). */
  createJob(job: JobRecord, idempotencyKey?: string, rows?: JobRows): Promise<{ job: JobRecord; created: boolean }>;
  getJob(tenant: string, id: string): Promise<JobRecord | null>;
  listJobs(query: ListJobsQuery): Promise<Page<JobRecord>>;
  /** Jobs not finished yet (queued or running), any tenant, oldest first. */
  listUnfinishedJobs(): Promise<JobRecord[]>;
  /**
   * A job's inline rows (null when it has none of that part): `limit` rows from `offset` (all when absent), with the
   * part's total row count. Only the rows asked for are read.
   */
  getJobRows(jobId: string, part: RowsPart, offset?: number, limit?: number): Promise<{ total: number; rows: PackedRows } | null>;
  /** Removes the job and its rows: inline rows, epochs, checkpoints, resume point, webhook deliveries (pending ones are dropped). */
  deleteJob(tenant: string, id: string): Promise<boolean>;

  /**
   * Atomically (and fenced) appends the batch and sets the job's `epoch`/`lastLoss` to its last event. Epochs
   * already stored (re-run after a resume point) are replaced by the same values.
   */
  appendEpochs(fence: Fence, events: EpochEvent[]): Promise<void>;
  /** Epochs >= fromEpoch in order, at most `limit` of them (all when absent). */
  getEpochs(jobId: string, fromEpoch?: number, limit?: number): Promise<EpochEvent[]>;

  /** Fenced: a checkpoint, and when resumeState is given also the job's resume point. */
  putCheckpoint(fence: Fence, info: CheckpointInfo, safetensors: Uint8Array, resumeState?: Uint8Array): Promise<void>;
  listCheckpoints(jobId: string): Promise<CheckpointInfo[]>;
  /** epoch undefined: the final checkpoint if there is one, else the latest periodic one. */
  getCheckpoint(jobId: string, epoch?: number): Promise<{ info: CheckpointInfo; safetensors: Uint8Array } | null>;
  /** The newest checkpoint carrying optimizer/generator state, for resuming an interrupted job. */
  getResumeState(jobId: string): Promise<{ epoch: number; safetensors: Uint8Array; resumeState: Uint8Array } | null>;
  /**
   * Replace the job's crash-recovery snapshot (not a user-visible checkpoint). Dropped automatically when the job
   * reaches a terminal status.
   */
  putResumeState(fence: Fence, epoch: number, safetensors: Uint8Array, resumeState: Uint8Array): Promise<void>;
  /** The job a tenant created with this Idempotency-Key, if any (so a retry can be answered before any queue check). */
  findJobByIdempotencyKey(tenant: string, key: string): Promise<JobRecord | null>;

  createDataset(dataset: Dataset): Promise<DatasetRecord>;
  /** A dataset's record and its rows as stored (float64, packed: nothing is unpacked into JS arrays). */
  getDataset(tenant: string, id: string): Promise<{ record: DatasetRecord; rows: PackedRows } | null>;
  getDatasetRecord(tenant: string, id: string): Promise<DatasetRecord | null>;
  deleteDataset(tenant: string, id: string): Promise<boolean>;

  /** Bytes stored by a tenant (jobs and their inline rows, epochs, checkpoints, datasets, webhook deliveries), for quotas. */
  tenantUsage(tenant: string): Promise<{ bytes: number; queued: number; running: number }>;
  /** A cheap round trip for /readyz; throws when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What routes call. Implemented by the job runtime (src/service/jobs/manager.ts). */
export interface JobManager {
  submit(tenant: string, spec: JobSpec, idempotencyKey?: string): Promise<{ job: JobRecord; created: boolean }>;
  get(tenant: string, id: string): Promise<JobRecord | null>;
  list(query: ListJobsQuery): Promise<Page<JobRecord>>;
  metrics(tenant: string, id: string): Promise<EpochEvent[] | null>;
  /**
   * A page of a job's inline rows (GET /v1/jobs/:id/data): null when the job does not exist for this tenant; `page`
   * null when the job has no inline rows of that part.
   */
  rows(
    tenant: string,
    id: string,
    part: RowsPart,
    offset: number,
    limit: number,
  ): Promise<{ job: JobRecord; page: { total: number; rows: PackedRows } | null } | null>;
  cancel(tenant: string, id: string): Promise<JobRecord | null>;
  delete(tenant: string, id: string): Promise<boolean>;
  /**
   * Replay of every epoch so far from `fromEpoch` (1 when absent), then live messages, then one final status message,
   * then `onClose`. A subscriber that falls more than the configured buffer behind gets a 'dropped' message (see
   * README: slow consumers). Returns the unsubscribe function, or null when the job does not exist for this tenant.
   */
  subscribe(
    tenant: string,
    id: string,
    subscriber: { send(message: StreamMessage): boolean; close(): void; bufferedAmount(): number },
    fromEpoch?: number,
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
