/**
 * The api side of the job runtime: what routes call (JobManager in types.ts). It accepts jobs into the queue (the
 * jobs table), reads them, asks running ones to stop through the store and the bus, serves streams (feed.ts) and
 * predictions. It trains nothing: worker nodes (supervisor.ts) do, on this process or on others.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { JobSpec, StoredJobSpec } from '../../spec/job-spec.js';
import { checkDatasetFits, checkPredictInput, checkSpecData, checkWarmStartShapes, stateDictShapes } from '../../training/validate.js';
import type { EventBus } from './bus.js';
import { ConflictError, InvalidInputError, NotFoundError, QueueFullError, ShuttingDownError, StorageQuotaError } from './errors.js';
import type { StreamFeed } from './feed.js';
import type { Predictor } from './predictions.js';
import { detachInlineRows } from './inline-rows.js';
import { newJobRecord } from './records.js';
import type { EpochEvent, JobDetails, JobRecord, JobRows, JobStore, ListJobsQuery, PackedRows, Page, RowsPart, StreamMessage } from './types.js';
import { TERMINAL_STATUSES } from './types.js';

export interface JobServiceOptions {
  store: JobStore;
  bus: EventBus;
  feed: StreamFeed;
  predictor: Predictor;
  /** Jobs allowed to wait (all tenants, all nodes); one more is refused with QueueFullError. */
  maxQueued: number;
  /** Retry-After for a full queue when no running job has progress to estimate from (default 5 s). */
  retryAfterSeconds: number;
  /** Bytes a tenant may store (TENANT_MAX_STORED_BYTES); 0: no limit. */
  tenantMaxStoredBytes: number;
}

/**
 * Bytes of the checkpoints a job will keep: every checkpointEvery epochs before the last, and the final one; each is
 * the state dict in float32 plus its safetensors header. Resume snapshots are left out: each replaces the last one
 * and they are dropped when the job ends.
 */
export function estimatedCheckpointBytes(spec: JobSpec): number {
  const params = Object.values(stateDictShapes(spec.model)).reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
  const each = params * 4 + 256;
  const every = spec.checkpointEvery;
  const periodic = every ? Math.floor((spec.training.epochs - 1) / every) : 0;
  return each * (periodic + 1);
}

/** JSON with sorted keys, to compare specs regardless of key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/**
 * Whether `spec` is the submission a job was created from: the same spec (key order aside), inline rows compared by
 * their digest (the record keeps no rows), and the same seed unless the request left it to the server.
 */
export function isSameSubmission(stored: StoredJobSpec, spec: JobSpec): boolean {
  const { seed: storedSeed, ...kept } = stored;
  const { seed, ...incoming } = detachInlineRows(spec).spec;
  return canonical(kept) === canonical(incoming) && (seed === undefined || seed === storedSeed);
}

function describeModel(model: JobSpec['model']): string {
  return model.kind === 'linear_regression'
    ? `linear_regression ${model.inputDim}-${model.outputDim}`
    : `two_layer_net ${model.inputDim}-${model.hiddenDim}-${model.outputDim}${model.bias ? ' with biases' : ''}`;
}

export class JobService {
  private stopping = false;

  constructor(private readonly opts: JobServiceOptions) {}

  /** New jobs are refused from now on (draining). */
  stopAccepting(): void {
    this.stopping = true;
  }

  async submit(tenant: string, spec: JobSpec, idempotencyKey?: string): Promise<{ job: JobRecord; created: boolean }> {
    const { store, bus } = this.opts;
    if (this.stopping) throw new ShuttingDownError(this.opts.retryAfterSeconds);
    if (idempotencyKey !== undefined) {
      const existing = await store.findJobByIdempotencyKey(tenant, idempotencyKey);
      if (existing) return { job: this.checkSameSpec(existing, spec, idempotencyKey), created: false };
    }
    const details = await this.checkData(tenant, spec);
    // Checked rows leave the spec here: the record keeps their count and digest, the store keeps them apart.
    const detached = detachInlineRows(spec);
    await this.checkStorage(tenant, spec, detached.rows);
    const queued = await store.countQueued();
    if (queued >= this.opts.maxQueued) {
      throw new QueueFullError(
        `the job queue is full (${queued} jobs waiting, limit ${this.opts.maxQueued}); retry later`,
        await this.retryAfter(),
      );
    }
    const now = new Date().toISOString();
    // A job without a seed gets one drawn and recorded, so that it can be replayed exactly.
    const seed = spec.seed ?? randomInt(0, 2 ** 32);
    const record = { ...newJobRecord({ id: randomUUID(), tenant, spec: detached.spec, seed, now }), details };
    const result = await store.createJob(record, idempotencyKey, detached.rows);
    if (!result.created) return { job: this.checkSameSpec(result.job, spec, idempotencyKey!), created: false };
    bus.publish({ kind: 'jobs' });
    return result;
  }

  /**
   * The one place a spec's data is checked against its model, beyond the schema the route applied: inline rows'
   * widths and values, a referenced dataset's existence and dimensions.
   */
  private async checkData(tenant: string, spec: JobSpec): Promise<JobDetails | null> {
    const { store } = this.opts;
    const dataProblem = checkSpecData(spec);
    if (dataProblem) throw new InvalidInputError(dataProblem, 'invalid_data');
    const datasets: [string, 'data' | 'validation'][] = [];
    if (spec.data.kind === 'dataset') datasets.push([spec.data.id, 'data']);
    if (spec.training.validation?.kind === 'dataset') datasets.push([spec.training.validation.id, 'validation']);
    for (const [id, role] of datasets) {
      const ds = await store.getDatasetRecord(tenant, id);
      if (!ds) throw new InvalidInputError(`${role === 'validation' ? 'validation ' : ''}dataset ${id} does not exist`, 'unknown_dataset');
      const fit = checkDatasetFits(spec, ds, role);
      if (fit) throw new InvalidInputError(fit, 'invalid_data');
    }
    return spec.warmStart ? { warmStart: await this.resolveWarmStart(tenant, spec) } : null;
  }

  /** A job whose inline rows and checkpoints would take the tenant past its storage quota is refused before it runs. */
  private async checkStorage(tenant: string, spec: JobSpec, rows: JobRows): Promise<void> {
    const quota = this.opts.tenantMaxStoredBytes;
    if (quota <= 0) return;
    const rowBytes = Object.values(rows).reduce((n, r) => n + (r ? r.x.byteLength + r.y.byteLength : 0), 0);
    const needed = estimatedCheckpointBytes(spec) + rowBytes;
    const { bytes } = await this.opts.store.tenantUsage(tenant);
    if (bytes + needed > quota) {
      const count = spec.checkpointEvery ? Math.floor((spec.training.epochs - 1) / spec.checkpointEvery) + 1 : 1;
      const what = `${rowBytes > 0 ? `inline rows (${rowBytes} bytes as float64) and ` : ''}${count} checkpoint${count === 1 ? '' : 's'}`;
      throw new StorageQuotaError(
        `storage quota exceeded: this job's ${what} would store about ${needed} bytes ` +
          `and the tenant already stores ${bytes}, above the limit of ${quota} bytes (TENANT_MAX_STORED_BYTES); ` +
          `${spec.checkpointEvery ? 'raise checkpointEvery, ' : ''}delete jobs or datasets to free space`,
      );
    }
  }

  /** The checkpoint a warm start begins from: the source job's (this tenant's) final one, or the epoch named. */
  private async resolveWarmStart(tenant: string, spec: JobSpec): Promise<NonNullable<JobDetails['warmStart']>> {
    const { store } = this.opts;
    const { jobId, epoch } = spec.warmStart!;
    const source = await store.getJob(tenant, jobId);
    if (!source) throw new InvalidInputError(`warmStart.jobId: job ${jobId} does not exist`, 'unknown_job');
    const shapes = checkWarmStartShapes(spec, stateDictShapes(source.spec.model), `job ${jobId}'s model (${describeModel(source.spec.model)})`);
    if (shapes) throw new InvalidInputError(shapes, 'incompatible_warm_start');
    const infos = await store.listCheckpoints(jobId);
    const chosen =
      epoch === undefined
        ? (infos.find((c) => c.kind === 'final') ?? infos.filter((c) => c.kind === 'periodic').at(-1))
        : (infos.find((c) => c.epoch === epoch && c.kind === 'final') ?? infos.find((c) => c.epoch === epoch));
    if (!chosen) {
      const listed = infos.map((c) => c.epoch).join(', ') || 'none yet';
      throw new InvalidInputError(
        epoch === undefined
          ? `warmStart: job ${jobId} (${source.status}) has no checkpoint to start from yet`
          : `warmStart.epoch ${epoch}: job ${jobId} has no checkpoint at that epoch (its checkpoints: ${listed})`,
        'no_checkpoint',
      );
    }
    return { jobId, epoch: chosen.epoch, kind: chosen.kind };
  }

  /**
   * Seconds until a queue slot is likely to free: a slot frees when a running job ends, so the soonest estimated
   * end among running jobs (time per epoch so far times epochs left), within [1, 60]; the configured default when
   * nothing has progress yet.
   */
  private async retryAfter(): Promise<number> {
    let soonest = Infinity;
    const now = Date.now();
    for (const job of await this.opts.store.listRunning(100)) {
      if (job.epoch <= 0 || !job.startedAt) continue;
      const perEpoch = (now - Date.parse(job.startedAt)) / job.epoch;
      soonest = Math.min(soonest, perEpoch * (job.epochs - job.epoch));
    }
    if (!Number.isFinite(soonest)) return this.opts.retryAfterSeconds;
    return Math.min(60, Math.max(1, Math.ceil(soonest / 1000)));
  }

  /** Reusing an Idempotency-Key for a different request is a client bug worth telling about (as Stripe does). */
  private checkSameSpec(existing: JobRecord, spec: JobSpec, key: string): JobRecord {
    if (!isSameSubmission(existing.spec, spec)) {
      throw new ConflictError(
        `Idempotency-Key ${JSON.stringify(key)} was already used for job ${existing.id} with a different body; use a new key for a new job`,
        'idempotency_key_reused',
        { jobId: existing.id },
      );
    }
    return existing;
  }

  get(tenant: string, id: string): Promise<JobRecord | null> {
    return this.opts.store.getJob(tenant, id);
  }

  list(query: ListJobsQuery): Promise<Page<JobRecord>> {
    return this.opts.store.listJobs(query);
  }

  async rows(
    tenant: string,
    id: string,
    part: RowsPart,
    offset: number,
    limit: number,
  ): Promise<{ job: JobRecord; page: { total: number; rows: PackedRows } | null } | null> {
    const job = await this.opts.store.getJob(tenant, id);
    if (!job) return null;
    return { job, page: await this.opts.store.getJobRows(id, part, offset, limit) };
  }

  async metrics(tenant: string, id: string): Promise<EpochEvent[] | null> {
    const job = await this.opts.store.getJob(tenant, id);
    if (!job) return null;
    return this.opts.store.getEpochs(id);
  }

  /**
   * A queued job is cancelled at once; a running one is flagged and its worker (on any node) is told: it stops
   * within an epoch (or its thread is terminated after cancelGraceMs), and the stream says when.
   */
  async cancel(tenant: string, id: string): Promise<JobRecord | null> {
    const { store, bus } = this.opts;
    const result = await store.requestCancel(tenant, id, new Date().toISOString());
    if (!result) return null;
    const { job, cancelledNow } = result;
    if (cancelledNow) {
      bus.publish({ kind: 'status', jobId: id });
      return job;
    }
    if (TERMINAL_STATUSES.includes(job.status)) {
      throw new ConflictError(`job ${id} is already ${job.status}; only queued or running jobs can be cancelled`, 'job_finished');
    }
    bus.publish({ kind: 'control', jobId: id });
    return job;
  }

  /** Deleting a running job voids its claim: its worker's next write fails its fence and the run stops. */
  async delete(tenant: string, id: string): Promise<boolean> {
    const { store, bus } = this.opts;
    const deleted = await store.deleteJob(tenant, id);
    if (!deleted) return false;
    bus.publish({ kind: 'control', jobId: id });
    bus.publish({ kind: 'status', jobId: id });
    this.opts.predictor.forget(id);
    return true;
  }

  subscribe(
    tenant: string,
    id: string,
    subscriber: { send(message: StreamMessage): boolean; close(): void; bufferedAmount(): number },
    fromEpoch = 1,
  ): Promise<(() => void) | null> {
    return this.opts.feed.subscribe(tenant, id, subscriber, fromEpoch);
  }

  async predict(tenant: string, id: string, x: number[][]): Promise<number[][]> {
    const { store } = this.opts;
    const job = await store.getJob(tenant, id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    const problem = checkPredictInput(x, job.spec.model.inputDim);
    if (problem) throw new InvalidInputError(problem, 'invalid_input');
    // The final checkpoint, else the newest periodic one (what getCheckpoint(id) returns), chosen without reading
    // any bytes: a model already loaded for it is reused.
    const infos = await store.listCheckpoints(id);
    const ckpt = infos.find((c) => c.kind === 'final') ?? infos.filter((c) => c.kind === 'periodic').at(-1);
    if (!ckpt) {
      throw new ConflictError(
        `job ${id} has no checkpoint to predict with yet (status ${job.status}); wait until it succeeds`,
        'no_checkpoint',
      );
    }
    return this.opts.predictor.run(id, job.spec, ckpt, async () => {
      const stored = await store.getCheckpoint(id, ckpt.epoch);
      if (!stored) throw new ConflictError(`the checkpoint of job ${id} at epoch ${ckpt.epoch} was removed`, 'no_checkpoint');
      return stored.safetensors;
    }, x);
  }
}
