/**
 * The job runtime: a persisted FIFO of queued jobs, at most `workers` of them training at once in the worker pool,
 * every state change written to the store before anyone is told about it, and live fan-out to stream subscribers.
 *
 * Lifecycle of a job: queued -> running -> succeeded | failed | cancelled. Stop reasons for a running job:
 * - cancel / delete: the control word asks the worker to stop after the current epoch; if it has not stopped after
 *   `cancelGraceMs`, its thread is terminated (Piscina abort). Either way the job ends 'cancelled'.
 * - timeout (`jobTimeoutMs` of wall clock in this process): same mechanism, the job ends failed with code 'timeout'.
 * - drain (stop()): the worker snapshots and stops; the job goes back to 'queued' and the next process resumes it.
 * - crash (the worker throws, exits or dies): only that job fails, code 'worker_crashed'.
 *
 * Restart: start() re-queues every job the store lists as queued or running. A job that was running resumes from
 * its newest resume point: the last checkpointEvery checkpoint or crash-recovery snapshot, whichever is newer
 * (snapshots are taken every `resumeSnapshotMs`, 5 s by default, and when draining). It resumes bitwise: the
 * snapshot holds weights, optimizer state, generator state and epoch, and the data is rebuilt from the seed. A
 * job with no snapshot restarts from epoch 0 (same seed, same result). Epochs re-run after the snapshot replace
 * identical stored ones.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import type { JobSpec } from '../../spec/job-spec.js';
import { Control, type TrainingData, type TrainTask, type WorkerMessage } from '../../training/protocol.js';
import {
  checkDatasetFits,
  checkPredictInput,
  checkSpecData,
} from '../../training/validate.js';
import { describeKernel, WorkerPool, type WorkerPoolOptions } from '../pool/pool.js';
import { ConflictError, InvalidInputError, NotFoundError, QueueFullError, ShuttingDownError } from './errors.js';
import { StreamHub } from './hub.js';
import { newJobRecord } from './records.js';
import { Predictor } from './predictions.js';
import type {
  EpochEvent,
  JobError,
  JobManager,
  JobRecord,
  JobStore,
  ListJobsQuery,
  Page,
  StreamMessage,
} from './types.js';
import { TERMINAL_STATUSES } from './types.js';

/** The subset of pino the runtime uses (pino.Logger satisfies it). */
export interface RuntimeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface JobManagerOptions {
  store: JobStore;
  logger: RuntimeLogger;
  /** Training threads (jobs running at once). */
  workers: number;
  /** Jobs allowed to wait; one more is refused with QueueFullError. */
  maxQueued: number;
  /** A slow stream subscriber may fall this many messages behind before the oldest are dropped (see hub.ts). */
  streamBufferMessages: number;
  /**
   * Wall-clock limit of one run of a job, counted from when its worker starts (thread start-up is not charged
   * unless the worker never starts); exceeded -> failed, code 'timeout'.
   */
  jobTimeoutMs: number;
  /** How long a cancelled job may take to reach the end of its epoch before its thread is terminated. */
  cancelGraceMs: number;
  /** Training worker module (path or file URL); default dist/workers/train.js. Tests substitute a crashing one. */
  workerScript?: string;
  predictWorkerScript?: string;
  /** Crash-recovery snapshot interval while training (default 5000 ms; 0 disables). */
  resumeSnapshotMs?: number;
  /** Epoch events are coalesced in the worker and posted at most this often (default 20 ms). */
  flushMs?: number;
  /** Unsent bytes above which a stream subscriber counts as slow (default 1 MiB). */
  streamMaxBufferedBytes?: number;
  /** Predictions costing up to this many multiply-adds run inline on the event loop (default 1e6, ~1 ms). */
  inlinePredictMaxOps?: number;
  /** Retry-After for a full queue (default 5 s). */
  retryAfterSeconds?: number;
  execArgv?: string[];
  /**
   * Matrix kernel of the workers: 'auto' (default: the native addon when it loads, else 'simd') and 'simd' reproduce
   * PyTorch's float32 results to the bit; 'relaxed' is about 15% faster than 'simd' and differs in the last bits
   * (see workers/kernels.ts).
   */
  kernel?: WorkerPoolOptions['kernel'];
  /** V8 heap limits of each worker thread (WORKER_MAX_OLD_GENERATION_MB, ...); a job that exceeds them fails alone. */
  resourceLimits?: WorkerPoolOptions['resourceLimits'];
}

type StopReason = 'cancel' | 'delete' | 'timeout' | 'drain' | 'store_error';

interface Run {
  job: JobRecord;
  control: Int32Array;
  abort: AbortController;
  stopReason: StopReason | null;
  graceTimer: NodeJS.Timeout | null;
  end: Extract<WorkerMessage, { type: 'end' }> | null;
  /** Serialises the handling of worker messages: store writes and fan-out happen in the order they were posted. */
  chain: Promise<void>;
  done: Promise<void>;
  /** For Retry-After estimates: when this run was dispatched and the epoch it started from. */
  launchedAt: number;
  firstEpoch: number;
  /** The first store write that failed during training: the job stops and fails, so its history has no gaps. */
  storeError: string | null;
}

/** Epochs read and sent per step of a replay. */
const REPLAY_PAGE = 500;
/**
 * The replay is paced by the subscriber: the next page is read only when its transport holds less than this many
 * unsent bytes. A storm of late subscribers on a long finished job then costs about a page each, not the whole
 * history each (bench/replay-storm.ts: 100 streams of a 100,000-epoch job peaked at ~2 GiB RSS before this).
 */
const REPLAY_DRAIN_BYTES = 128 * 1024;
/** A transport that makes no progress for this long is left to the hub's slow-consumer policy (bounded backlog). */
const REPLAY_STALL_MS = 30_000;

async function replayDrained(subscriber: { bufferedAmount(): number }, isClosed: () => boolean): Promise<void> {
  await new Promise((r) => setImmediate(r));
  let lowest = subscriber.bufferedAmount();
  let progressAt = Date.now();
  while (!isClosed() && subscriber.bufferedAmount() > REPLAY_DRAIN_BYTES) {
    await new Promise((r) => setTimeout(r, 5));
    const buffered = subscriber.bufferedAmount();
    if (buffered < lowest) {
      lowest = buffered;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > REPLAY_STALL_MS) {
      return;
    }
  }
}

function isTerminal(job: JobRecord): boolean {
  return TERMINAL_STATUSES.includes(job.status);
}

function statusMessage(job: JobRecord): Extract<StreamMessage, { type: 'status' }> {
  return {
    type: 'status',
    status: job.status,
    epoch: job.epoch,
    epochs: job.epochs,
    lastLoss: job.lastLoss,
    error: job.error,
  };
}

/** JSON with sorted keys, to compare specs regardless of key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

function toFloat32(rows: number[][], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) out.set(rows[i]!, i * width);
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class DefaultJobManager implements JobManager {
  private readonly store: JobStore;
  private readonly log: RuntimeLogger;
  private readonly opts: Required<
    Omit<JobManagerOptions, 'store' | 'logger' | 'workerScript' | 'predictWorkerScript' | 'execArgv' | 'kernel' | 'resourceLimits'>
  >;
  private pool: WorkerPool | null = null;
  private readonly poolOptions: ConstructorParameters<typeof WorkerPool>[0];
  private readonly hub: StreamHub;
  /** Waiting jobs in dispatch order. */
  private readonly queue: JobRecord[] = [];
  private readonly running = new Map<string, Run>();
  private started = false;
  private stopping = false;
  /** Dispatch counter value when each tenant last had a job started (fair share). */
  private readonly lastServed = new Map<string, number>();
  private dispatches = 0;
  private readonly predictor: Predictor;

  constructor(options: JobManagerOptions) {
    this.store = options.store;
    this.log = options.logger;
    this.opts = {
      workers: Math.max(1, Math.floor(options.workers)),
      maxQueued: Math.max(0, Math.floor(options.maxQueued)),
      streamBufferMessages: options.streamBufferMessages,
      jobTimeoutMs: options.jobTimeoutMs,
      cancelGraceMs: options.cancelGraceMs,
      resumeSnapshotMs: options.resumeSnapshotMs ?? 5000,
      flushMs: options.flushMs ?? 20,
      streamMaxBufferedBytes: options.streamMaxBufferedBytes ?? 1 << 20,
      inlinePredictMaxOps: options.inlinePredictMaxOps ?? 1e6,
      retryAfterSeconds: options.retryAfterSeconds ?? 5,
    };
    this.poolOptions = {
      workers: this.opts.workers,
      trainScript: options.workerScript,
      predictScript: options.predictWorkerScript,
      execArgv: options.execArgv,
      kernel: options.kernel,
      resourceLimits: options.resourceLimits,
    };
    this.predictor = new Predictor(() => this.getPool(), this.opts.inlinePredictMaxOps);
    this.hub = new StreamHub({
      maxBacklog: this.opts.streamBufferMessages,
      maxBufferedBytes: this.opts.streamMaxBufferedBytes,
    });
  }

  /** Threads start lazily: a manager that is only read from (tests, tools) never spawns workers. */
  private getPool(): WorkerPool {
    if (!this.pool) this.pool = new WorkerPool(this.poolOptions);
    return this.pool;
  }

  // ---------------------------------------------------------------- submit / read

  async submit(tenant: string, spec: JobSpec, idempotencyKey?: string): Promise<{ job: JobRecord; created: boolean }> {
    if (this.stopping) throw new ShuttingDownError(this.opts.retryAfterSeconds);
    if (idempotencyKey !== undefined) {
      const existing = await this.store.findJobByIdempotencyKey(tenant, idempotencyKey);
      if (existing) return { job: this.checkSameSpec(existing, spec, idempotencyKey), created: false };
    }
    const dataProblem = checkSpecData(spec);
    if (dataProblem) throw new InvalidInputError(dataProblem, 'invalid_data');
    if (spec.data.kind === 'dataset') {
      const ds = await this.store.getDatasetRecord(tenant, spec.data.id);
      if (!ds) throw new InvalidInputError(`dataset ${spec.data.id} does not exist`, 'unknown_dataset');
      const fit = checkDatasetFits(spec, ds);
      if (fit) throw new InvalidInputError(fit, 'invalid_data');
    }
    if (this.queue.length >= this.opts.maxQueued) {
      throw new QueueFullError(
        `the job queue is full (${this.queue.length} jobs waiting, limit ${this.opts.maxQueued}); retry later`,
        this.retryAfter(),
      );
    }
    const now = new Date().toISOString();
    // A job without a seed gets one drawn and recorded, so that it can be replayed exactly.
    const seed = spec.seed ?? randomInt(0, 2 ** 32);
    const record = newJobRecord({ id: randomUUID(), tenant, spec, seed, now });
    const result = await this.store.createJob(record, idempotencyKey);
    if (!result.created) return { job: this.checkSameSpec(result.job, spec, idempotencyKey!), created: false };
    this.queue.push(result.job);
    this.log.info({ jobId: record.id, tenant, seed }, 'job queued');
    this.pump();
    return result;
  }

  /**
   * Seconds until a queue slot is likely to free: a slot frees when a running job ends, so the soonest estimated
   * end among running jobs (elapsed time per epoch so far times epochs left), within [1, 60]; the configured
   * default when nothing has progress yet.
   */
  private retryAfter(): number {
    let soonest = Infinity;
    const now = Date.now();
    for (const r of this.running.values()) {
      const done = r.job.epoch - r.firstEpoch;
      if (done <= 0) continue;
      soonest = Math.min(soonest, ((now - r.launchedAt) / done) * (r.job.epochs - r.job.epoch));
    }
    if (!Number.isFinite(soonest)) return this.opts.retryAfterSeconds;
    return Math.min(60, Math.max(1, Math.ceil(soonest / 1000)));
  }

  /** Reusing an Idempotency-Key for a different request is a client bug worth telling about (as Stripe does). */
  private checkSameSpec(existing: JobRecord, spec: JobSpec, key: string): JobRecord {
    const { seed: storedSeed, ...stored } = existing.spec;
    const { seed, ...incoming } = spec;
    if (canonical(stored) !== canonical(incoming) || (seed !== undefined && seed !== storedSeed)) {
      throw new ConflictError(
        `Idempotency-Key ${JSON.stringify(key)} was already used for job ${existing.id} with a different spec`,
        'idempotency_key_reused',
      );
    }
    return existing;
  }

  async get(tenant: string, id: string): Promise<JobRecord | null> {
    return this.store.getJob(tenant, id);
  }

  list(query: ListJobsQuery): Promise<Page<JobRecord>> {
    return this.store.listJobs(query);
  }

  async metrics(tenant: string, id: string): Promise<EpochEvent[] | null> {
    const job = await this.store.getJob(tenant, id);
    if (!job) return null;
    return this.store.getEpochs(id);
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Fair share across tenants: the next job is the oldest waiting job of the tenant with the fewest jobs running,
   * ties going to the tenant served longest ago, so one tenant's burst cannot hold the workers while another
   * tenant waits (round-robin between tenants). One tenant alone gets plain FIFO.
   */
  private pump(): void {
    if (!this.started || this.stopping) return;
    while (this.running.size < this.opts.workers && this.queue.length > 0) {
      const runningBy = new Map<string, number>();
      for (const r of this.running.values()) runningBy.set(r.job.tenant, (runningBy.get(r.job.tenant) ?? 0) + 1);
      const rank = (j: JobRecord): [number, number] => [runningBy.get(j.tenant) ?? 0, this.lastServed.get(j.tenant) ?? -1];
      let best = 0;
      for (let i = 1; i < this.queue.length; i++) {
        const [r, l] = rank(this.queue[i]!);
        const [br, bl] = rank(this.queue[best]!);
        if (r < br || (r === br && l < bl)) best = i;
      }
      const [job] = this.queue.splice(best, 1);
      this.lastServed.set(job!.tenant, ++this.dispatches);
      this.launch(job!);
    }
  }

  private launch(job: JobRecord): void {
    let resolveDone!: () => void;
    const run: Run = {
      job,
      control: new Int32Array(new SharedArrayBuffer(4)),
      abort: new AbortController(),
      stopReason: null,
      graceTimer: null,
      end: null,
      chain: Promise.resolve(),
      done: new Promise<void>((r) => (resolveDone = r)),
      launchedAt: Date.now(),
      firstEpoch: job.epoch,
      storeError: null,
    };
    this.running.set(job.id, run);
    this.execute(run)
      .catch(async (err) => {
        this.log.error({ jobId: job.id, err }, 'job runtime error');
        // Never leave a job 'running' with nothing running it.
        try {
          if (run.stopReason !== 'delete' && run.stopReason !== 'drain') {
            await this.finishJob(run, 'failed', { code: 'internal', message: `internal error: ${errorText(err)}` });
          }
        } catch {
          // The store itself is failing; the job is resumed or failed on the next start().
        }
      })
      .finally(() => {
        if (run.graceTimer) clearTimeout(run.graceTimer);
        this.running.delete(job.id);
        resolveDone();
        this.pump();
      });
  }

  private async execute(run: Run): Promise<void> {
    const id = run.job.id;
    const resume = await this.store.getResumeState(id);
    let data: TrainingData | undefined;
    const spec = run.job.spec;
    if (spec.data.kind === 'dataset') {
      const ds = await this.store.getDataset(run.job.tenant, spec.data.id);
      const problem = ds ? checkDatasetFits(spec, ds) : `dataset ${spec.data.id} no longer exists`;
      if (problem || !ds) {
        await this.finishJob(run, 'failed', { code: 'invalid_data', message: problem! });
        return;
      }
      data = { n: ds.rows, x: toFloat32(ds.x, ds.inputDim), y: toFloat32(ds.y, ds.outputDim) };
    }
    const startedAt = run.job.startedAt ?? new Date().toISOString();
    const resumeEpoch = resume?.epoch ?? 0;
    run.firstEpoch = resumeEpoch;
    const resumeLoss = resumeEpoch > 0 ? ((await this.store.getEpochs(id, resumeEpoch, 1))[0]?.loss ?? null) : null;
    run.job = await this.store.updateJob(id, {
      status: 'running',
      startedAt,
      epoch: resumeEpoch,
      lastLoss: resumeLoss,
      error: null,
    });
    if (run.stopReason === 'cancel' || run.stopReason === 'delete') {
      // Cancelled while we were reading the store: never start the worker.
      await this.finishJob(run, 'cancelled', null);
      return;
    }
    if (resume) this.log.info({ jobId: id, epoch: resume.epoch }, 'job resuming from snapshot');
    else this.log.info({ jobId: id }, 'job started');

    const { port1, port2 } = new MessageChannel();
    let endReceived!: () => void;
    const ended = new Promise<void>((r) => (endReceived = r));
    let timeout = setTimeout(() => this.requestStop(run, 'timeout'), this.opts.jobTimeoutMs);
    port1.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') {
        // The limit is on training, not on a thread's start-up (slow on a loaded machine): restart the clock.
        // A worker that never gets this far is still stopped by the first timer.
        clearTimeout(timeout);
        timeout = setTimeout(() => this.requestStop(run, 'timeout'), this.opts.jobTimeoutMs);
        return;
      }
      run.chain = run.chain
        .then(() => this.onWorkerMessage(run, m))
        .catch((err) => this.onStoreError(run, m, err));
      if (m.type === 'end') endReceived();
    });
    const task: TrainTask = {
      jobId: id,
      spec,
      data,
      resume: resume ?? undefined,
      port: port2,
      control: run.control.buffer as SharedArrayBuffer,
      startedAtMs: Date.parse(startedAt),
      flushMs: this.opts.flushMs,
      resumeSnapshotMs: this.opts.resumeSnapshotMs,
    };
    let failure: unknown = null;
    try {
      await this.getPool().runTrain(task, run.abort.signal);
      // The result and the port are different channels: the end message may still be in flight.
      // (Both are queued on this thread's loop, so it arrives at once; 30 s only guards against a worker bug.)
      await Promise.race([ended, new Promise((r) => setTimeout(r, 30_000).unref())]);
    } catch (err) {
      failure = err;
      // Let messages the worker posted before dying arrive and be recorded.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      clearTimeout(timeout);
    }
    await run.chain;
    port1.close();
    await this.settle(run, failure);
  }

  /**
   * A store write failed while training: recording anything after it would leave a hole in the job's history
   * (epochs k+1.. missing, later ones present), so the job is stopped at once and fails with `store_error`.
   */
  private onStoreError(run: Run, m: WorkerMessage, err: unknown): void {
    if (run.storeError !== null) return;
    const what =
      m.type === 'epochs'
        ? `epochs ${m.events[0]?.epoch}-${m.events.at(-1)?.epoch}`
        : m.type === 'end'
          ? 'the final checkpoint'
          : m.type === 'checkpoint'
            ? `the checkpoint at epoch ${m.epoch}`
            : m.type === 'resume'
              ? `the resume snapshot at epoch ${m.epoch}`
              : 'a worker message';
    run.storeError = `could not record ${what}: ${errorText(err)}`;
    this.log.error({ jobId: run.job.id, err }, 'store write failed during training; stopping the job');
    this.requestStop(run, 'store_error');
  }

  private async onWorkerMessage(run: Run, m: WorkerMessage): Promise<void> {
    if (run.stopReason === 'delete') return;
    if (run.storeError !== null) {
      // Stopping after a failed write: nothing after the hole is recorded.
      if (m.type === 'end') run.end = m;
      return;
    }
    const id = run.job.id;
    switch (m.type) {
      case 'epochs': {
        if (m.events.length === 0) return;
        await this.store.appendEpochs(id, m.events);
        const last = m.events[m.events.length - 1]!;
        run.job = { ...run.job, epoch: last.epoch, lastLoss: last.loss };
        this.hub.publishEpochs(id, m.events);
        return;
      }
      case 'checkpoint':
        await this.store.putCheckpoint(
          id,
          { epoch: m.epoch, kind: 'periodic', createdAt: new Date().toISOString(), bytes: m.safetensors.byteLength },
          m.safetensors,
          m.resumeState,
        );
        return;
      case 'resume':
        await this.store.putResumeState(id, m.epoch, m.safetensors, m.resumeState);
        return;
      case 'started':
        return;
      case 'end':
        run.end = m;
        if (m.outcome === 'succeeded') {
          await this.store.putCheckpoint(
            id,
            { epoch: m.epoch, kind: 'final', createdAt: new Date().toISOString(), bytes: m.safetensors.byteLength },
            m.safetensors,
          );
        }
        return;
    }
  }

  /** Decide the job's final state from how the worker ended (or failed) and why it was asked to stop. */
  private async settle(run: Run, failure: unknown): Promise<void> {
    const id = run.job.id;
    const reason = run.stopReason;
    if (reason === 'delete') {
      this.hub.publishFinal(id, statusMessage({ ...run.job, status: 'cancelled' }));
      return;
    }
    if (run.storeError !== null) return this.finishStoreError(run);
    const end = run.end;
    if (end) {
      switch (end.outcome) {
        case 'succeeded':
          return this.finishJob(run, 'succeeded', null);
        case 'diverged':
          return this.finishJob(run, 'failed', { code: 'diverged', message: end.message });
        case 'invalid_data':
          return this.finishJob(run, 'failed', { code: 'invalid_data', message: end.message });
        case 'interrupted':
          return this.requeueForResume(run);
        case 'cancelled':
          return reason === 'timeout' ? this.finishTimeout(run) : this.finishJob(run, 'cancelled', null);
      }
    }
    if (reason === 'drain') return this.requeueForResume(run);
    if (reason === 'cancel') return this.finishJob(run, 'cancelled', null);
    if (reason === 'timeout') return this.finishTimeout(run);
    const message = failure === null ? 'the worker returned without a result' : errorText(failure);
    this.log.warn({ jobId: id, err: failure }, 'training worker crashed');
    return this.finishJob(run, 'failed', { code: 'worker_crashed', message: `worker_crashed: ${message}` });
  }

  private finishTimeout(run: Run): Promise<void> {
    return this.finishJob(run, 'failed', {
      code: 'timeout',
      message: `the job exceeded its wall-clock limit of ${this.opts.jobTimeoutMs} ms at epoch ${run.job.epoch}`,
    });
  }

  /**
   * The job fails with `store_error`. The store may still be failing: the subscribers get the final status anyway,
   * and the failed state is written as soon as the store takes it (retried with backoff until stop()). Until then
   * the store says 'running', which the next start() would resume from its last snapshot.
   */
  private async finishStoreError(run: Run): Promise<void> {
    const message =
      `store_error: ${run.storeError}; training was stopped so the job's history has no gaps ` +
      `(epochs 1-${run.job.epoch} are recorded)`;
    const patch: Partial<JobRecord> = { status: 'failed', error: { code: 'store_error', message }, finishedAt: new Date().toISOString() };
    try {
      run.job = await this.store.updateJob(run.job.id, patch);
    } catch (err) {
      run.job = { ...run.job, ...patch } as JobRecord;
      this.log.error({ jobId: run.job.id, err }, 'could not record the store_error failure yet; retrying');
      this.persistLater(run.job.id, patch, 100);
    }
    this.log.info({ jobId: run.job.id, status: 'failed', epoch: run.job.epoch, error: patch.error }, 'job finished');
    this.hub.publishFinal(run.job.id, statusMessage(run.job));
  }

  private persistLater(id: string, patch: Partial<JobRecord>, delayMs: number): void {
    setTimeout(() => {
      this.store.updateJob(id, patch).then(
        () => this.log.info({ jobId: id }, 'recorded the store_error failure'),
        () => {
          if (!this.stopping) this.persistLater(id, patch, Math.min(delayMs * 2, 5000));
        },
      );
    }, delayMs).unref();
  }

  /** Drained: the job keeps its progress and waits, as 'queued', for the next process to resume it. */
  private async requeueForResume(run: Run): Promise<void> {
    run.job = await this.store.updateJob(run.job.id, { status: 'queued' });
    this.log.info({ jobId: run.job.id, epoch: run.job.epoch }, 'job interrupted for shutdown; it resumes on restart');
  }

  private async finishJob(run: Run, status: 'succeeded' | 'failed' | 'cancelled', error: JobError | null): Promise<void> {
    const end = run.end;
    const patch: Partial<JobRecord> = { status, error, finishedAt: new Date().toISOString() };
    if (end && end.outcome === 'succeeded') {
      patch.epoch = end.epoch;
      patch.lastLoss = end.loss;
    }
    run.job = await this.store.updateJob(run.job.id, patch);
    this.log.info({ jobId: run.job.id, status, epoch: run.job.epoch, error }, 'job finished');
    this.hub.publishFinal(run.job.id, statusMessage(run.job));
  }

  private requestStop(run: Run, reason: StopReason): void {
    // delete > cancel > timeout > drain: a stronger reason replaces a weaker one.
    const rank: Record<StopReason, number> = { drain: 0, timeout: 1, cancel: 2, store_error: 3, delete: 4 };
    if (run.stopReason !== null && rank[run.stopReason] >= rank[reason]) return;
    const previous = run.stopReason;
    run.stopReason = reason;
    Atomics.store(run.control, 0, reason === 'drain' ? Control.SNAPSHOT_AND_STOP : Control.CANCEL);
    // The drain deadline belongs to stop(); the others get the grace period, then the hard stop.
    if (reason !== 'drain' && (previous === null || previous === 'drain')) {
      run.graceTimer = setTimeout(() => {
        this.log.warn({ jobId: run.job.id, reason }, 'worker did not stop within the grace period; terminating it');
        run.abort.abort();
      }, this.opts.cancelGraceMs);
      run.graceTimer.unref();
    }
  }

  // ---------------------------------------------------------------- cancel / delete

  async cancel(tenant: string, id: string): Promise<JobRecord | null> {
    const job = await this.store.getJob(tenant, id);
    if (!job) return null;
    if (isTerminal(job)) throw new ConflictError(`job ${id} is already ${job.status}; only queued or running jobs can be cancelled`, 'job_finished');
    const run = this.running.get(id);
    if (run) {
      this.requestStop(run, 'cancel');
      // Still 'running': it stops within an epoch (or is terminated after cancelGraceMs); the stream says when.
      return (await this.store.getJob(tenant, id)) ?? { ...run.job };
    }
    this.removeFromQueue(id);
    const cancelled = await this.store.updateJob(id, { status: 'cancelled', finishedAt: new Date().toISOString() });
    this.hub.publishFinal(id, statusMessage(cancelled));
    this.log.info({ jobId: id }, 'queued job cancelled');
    return cancelled;
  }

  private removeFromQueue(id: string): void {
    const i = this.queue.findIndex((j) => j.id === id);
    if (i >= 0) this.queue.splice(i, 1);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    const job = await this.store.getJob(tenant, id);
    if (!job) return false;
    this.removeFromQueue(id);
    const run = this.running.get(id);
    if (run) {
      this.requestStop(run, 'delete');
      await run.done;
    } else if (!isTerminal(job)) {
      this.hub.publishFinal(id, statusMessage({ ...job, status: 'cancelled' }));
    }
    this.predictor.forget(id);
    return this.store.deleteJob(tenant, id);
  }

  // ---------------------------------------------------------------- streams

  async subscribe(
    tenant: string,
    id: string,
    subscriber: { send(message: StreamMessage): boolean; close(): void; bufferedAmount(): number },
  ): Promise<(() => void) | null> {
    const job = await this.store.getJob(tenant, id);
    if (!job) return null;
    // Attach first, read the history second: see hub.ts for why this has neither gaps nor duplicates.
    const sub = this.hub.attach(id, subscriber);
    try {
      // The history in pages, yielding between them: a long job's replay must not hold the event loop.
      let from = 1;
      let history = await this.store.getEpochs(id, from, REPLAY_PAGE);
      while (history.length === REPLAY_PAGE && !sub.closed) {
        this.hub.replay(sub, history.map((e) => ({ type: 'epoch' as const, epoch: e.epoch, loss: e.loss })));
        from = history[history.length - 1]!.epoch + 1;
        await replayDrained(subscriber, () => sub.closed);
        history = await this.store.getEpochs(id, from, REPLAY_PAGE);
      }
      const latest = await this.store.getJob(tenant, id);
      const final = !latest
        ? statusMessage({ ...job, status: 'cancelled' })
        : isTerminal(latest)
          ? statusMessage(latest)
          : null;
      this.hub.completeReplay(
        sub,
        history.map((e) => ({ type: 'epoch' as const, epoch: e.epoch, loss: e.loss })),
        final,
      );
    } catch (err) {
      this.hub.detach(sub);
      throw err;
    }
    return () => this.hub.detach(sub);
  }

  // ---------------------------------------------------------------- predictions

  async predict(tenant: string, id: string, x: number[][]): Promise<number[][]> {
    const job = await this.store.getJob(tenant, id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    const problem = checkPredictInput(x, job.spec.model.inputDim);
    if (problem) throw new InvalidInputError(problem, 'invalid_input');
    // The final checkpoint, else the newest periodic one (what getCheckpoint(id) returns), chosen without reading
    // any bytes: a model already loaded for it is reused.
    const infos = await this.store.listCheckpoints(id);
    const ckpt = infos.find((c) => c.kind === 'final') ?? infos.filter((c) => c.kind === 'periodic').at(-1);
    if (!ckpt) {
      throw new ConflictError(
        `job ${id} has no checkpoint to predict with yet (status ${job.status}); wait until it succeeds`,
        'no_checkpoint',
      );
    }
    return this.predictor.run(id, job.spec, ckpt, async () => {
      const stored = await this.store.getCheckpoint(id, ckpt.epoch);
      if (!stored) throw new ConflictError(`the checkpoint of job ${id} at epoch ${ckpt.epoch} was removed`, 'no_checkpoint');
      return stored.safetensors;
    }, x);
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const kernel = describeKernel(this.poolOptions?.kernel);
    if (kernel.nativeUnavailable) {
      this.log.warn({ ...kernel }, `training kernel: ${kernel.kernel} (native accelerator not loaded: ${kernel.nativeUnavailable})`);
    } else {
      this.log.info({ ...kernel }, `training kernel: ${kernel.kernel}${kernel.isa ? ` (${kernel.isa})` : ''}`);
    }
    const unfinished = await this.store.listUnfinishedJobs();
    // After the await: jobs submitted meanwhile are already queued and must not be queued twice.
    const queuedIds = new Set(this.queue.map((j) => j.id));
    // Jobs from a previous process go first (they were accepted earlier); they may exceed maxQueued: they were
    // acknowledged, so they are never refused now.
    const previous = unfinished.filter((j) => !queuedIds.has(j.id) && !this.running.has(j.id));
    for (const [i, job] of previous.entries()) {
      // It was running in a process that is gone: it is waiting again (its progress and snapshot are kept).
      if (job.status === 'running') previous[i] = await this.store.updateJob(job.id, { status: 'queued' });
    }
    this.queue.unshift(...previous);
    if (previous.length > 0) {
      this.log.info({ jobs: previous.map((j) => ({ jobId: j.id, status: j.status, epoch: j.epoch })) }, 'resuming unfinished jobs');
    }
    this.pump();
  }

  private stopped: Promise<void> | null = null;

  stop(options: { deadlineMs?: number } = {}): Promise<void> {
    this.stopped ??= this.drain(options.deadlineMs ?? 10_000);
    return this.stopped;
  }

  private async drain(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const runs = [...this.running.values()];
    for (const run of runs) this.requestStop(run, 'drain');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(runs.map((r) => r.done)),
      new Promise<void>((r) => (timer = setTimeout(r, deadlineMs))),
    ]);
    clearTimeout(timer);
    // Past the deadline: terminate what is left. Those jobs go back to 'queued' and resume from their last
    // snapshot (periodic, or at most resumeSnapshotMs old) on the next start().
    if (this.pool) await this.pool.destroy();
    await Promise.all(runs.map((r) => r.done));
    const byId = new Map(this.queue.map((j) => [j.id, j] as const));
    for (const r of runs) byId.set(r.job.id, r.job);
    this.hub.closeAll((jobId) => {
      const job = byId.get(jobId);
      return job ? statusMessage(job) : null;
    });
    this.hub.shutdown();
    this.queue.length = 0;
  }

  /**
   * GET /readyz: jobs can run here now. The pool threads start lazily (on the first job), so "the pool has started"
   * means start() ran and stop() has not; the store must answer a read (a probe id that never exists).
   */
  async ready(): Promise<{ ready: boolean; reason?: string }> {
    if (!this.started) return { ready: false, reason: 'the job runtime has not started' };
    if (this.stopping) return { ready: false, reason: 'the job runtime is stopping' };
    try {
      await this.store.getJob('__readyz__', '__readyz__');
    } catch (err) {
      return { ready: false, reason: `store query failed: ${(err as Error).message}` };
    }
    return { ready: true };
  }

  /** For tests and /readyz: what the runtime is doing now. */
  stats(): { queued: number; running: number; workers: number; stopping: boolean } {
    return { queued: this.queue.length, running: this.running.size, workers: this.opts.workers, stopping: this.stopping };
  }
}

export function createJobManager(opts: JobManagerOptions): JobManager & { stats(): ReturnType<DefaultJobManager['stats']> } {
  return new DefaultJobManager(opts);
}
