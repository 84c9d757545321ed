/**
 * The job runtime's composition root: one node's share of it, by role.
 * - 'api': JobService (submit, read, cancel, delete, predictions) and StreamFeed + StreamHub (streams). Trains nothing.
 * - 'worker': RunSupervisor: claims jobs from the queue and trains them on the pool. Serves no jobs API.
 * - 'all' (default): both in one process: the embedded single-node service.
 * Nodes share only the store (the jobs table is the queue) and the bus (events after writes).
 *
 * Lifecycle of a job: queued -> running -> succeeded | failed | cancelled; a running job goes back to queued when
 * its worker drains, and is claimed again when its worker's lease runs out. See supervisor.ts for how a run stops,
 * and service.ts for what the api side does.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { describeKernel, WorkerPool, type WorkerPoolOptions } from '../pool/pool.js';
import { LocalBus, type EventBus } from './bus.js';
import { StreamFeed, statusMessage } from './feed.js';
import { StreamHub } from './hub.js';
import { Predictor } from './predictions.js';
import { JobService } from './service.js';
import { RunSupervisor, type RuntimeLogger } from './supervisor.js';
import type { JobManager, JobStore } from './types.js';
import { WebhookDispatcher, type WebhookSettings } from '../webhooks/dispatcher.js';

export type { RuntimeLogger } from './supervisor.js';

export type NodeRole = 'all' | 'api' | 'worker';

export interface JobManagerOptions {
  store: JobStore;
  logger: RuntimeLogger;
  /** Which parts of the runtime this process runs (default 'all'). */
  role?: NodeRole;
  /** How nodes tell each other about writes (default: in-process, for a single node). */
  bus?: EventBus;
  /** This node's id in leases and logs (default: hostname-pid-random). */
  nodeId?: string;
  /** Training threads (jobs running at once on this node). */
  workers: number;
  /** Jobs allowed to wait (all nodes); one more is refused with QueueFullError. */
  maxQueued: number;
  /** A slow stream subscriber may fall this many messages behind before the oldest are dropped (see hub.ts). */
  streamBufferMessages: number;
  /** Wall-clock limit of one run of a job, counted from when its worker starts; exceeded -> failed, code 'timeout'. */
  jobTimeoutMs: number;
  /** How long a cancelled job may take to reach the end of its epoch before its thread is terminated. */
  cancelGraceMs: number;
  /** A worker's claim on a job; a node that stops renewing (dead, paused, cut off) loses its jobs after this long. */
  leaseMs?: number;
  /** Idle workers look for claimable jobs (expired leases, lost notifications) this often (default 1000 ms). */
  pollMs?: number;
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
   * PyTorch's float32 results to the bit; 'relaxed' is about 15% faster than 'simd' and differs in the last bits.
   */
  kernel?: WorkerPoolOptions['kernel'];
  /** V8 heap limits of each worker thread; a job that exceeds them fails alone. */
  resourceLimits?: WorkerPoolOptions['resourceLimits'];
  /** Bytes a tenant may store (TENANT_MAX_STORED_BYTES): checked at submission and before each checkpoint. 0: none. */
  tenantMaxStoredBytes?: number;
  /** Webhook deliveries (sent by nodes with role 'api' or 'all'); see src/service/webhooks/dispatcher.ts. */
  webhooks?: WebhookSettings;
}

export const DEFAULT_LEASE_MS = 15_000;

export interface RuntimeStats {
  role: NodeRole;
  nodeId: string;
  running: number;
  workers: number;
  stopping: boolean;
}

export type JobRuntime = JobManager & {
  stats(): RuntimeStats;
  ready(): Promise<{ ready: boolean; reason?: string }>;
};

export function defaultNodeId(): string {
  return `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

export function createJobManager(options: JobManagerOptions): JobRuntime {
  const role = options.role ?? 'all';
  const log = options.logger;
  const store = options.store;
  const ownsBus = !options.bus;
  const bus = options.bus ?? new LocalBus();
  const nodeId = options.nodeId ?? defaultNodeId();
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;

  const poolOptions: WorkerPoolOptions & { trainScript?: string; predictScript?: string } = {
    workers: Math.max(1, Math.floor(options.workers)),
    trainScript: options.workerScript,
    predictScript: options.predictWorkerScript,
    execArgv: options.execArgv,
    kernel: options.kernel,
    resourceLimits: options.resourceLimits,
  };
  // Threads start when a training runtime starts (start() below), not earlier: a runtime that is only read from
  // (tests, tools, an idle api node) never spawns workers.
  let pool: WorkerPool | null = null;
  const getPool = (): WorkerPool => (pool ??= new WorkerPool(poolOptions));

  const hub = new StreamHub({
    maxBacklog: options.streamBufferMessages,
    maxBufferedBytes: options.streamMaxBufferedBytes ?? 1 << 20,
  });
  const feed = new StreamFeed(store, bus, hub, (err, jobId) => log.error({ jobId, err }, 'stream update failed'));
  const predictor = new Predictor(getPool, options.inlinePredictMaxOps ?? 1e6);
  const service = new JobService({
    store,
    bus,
    feed,
    predictor,
    maxQueued: Math.max(0, Math.floor(options.maxQueued)),
    retryAfterSeconds,
    tenantMaxStoredBytes: options.tenantMaxStoredBytes ?? 0,
  });
  const supervisor =
    role === 'api'
      ? null
      : new RunSupervisor({
          store,
          bus,
          logger: log,
          pool: getPool,
          nodeId,
          workers: Math.max(1, Math.floor(options.workers)),
          leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
          pollMs: options.pollMs ?? 1000,
          jobTimeoutMs: options.jobTimeoutMs,
          cancelGraceMs: options.cancelGraceMs,
          resumeSnapshotMs: options.resumeSnapshotMs ?? 5000,
          flushMs: options.flushMs ?? 20,
          tenantMaxStoredBytes: options.tenantMaxStoredBytes ?? 0,
        });

  // Webhooks go out from the api side: worker nodes only write the delivery rows, with the job's end.
  const webhooks = role === 'worker' ? null : new WebhookDispatcher({ store, bus, logger: log, ...options.webhooks });

  let started = false;
  let stopping = false;
  let stopped: Promise<void> | null = null;

  async function start(): Promise<void> {
    if (started) return;
    started = true;
    webhooks?.start();
    if (!supervisor) return;
    // Start the training threads now rather than with the first job: each imports its worker and warms up (a few
    // tiny jobs, src/training/warm-up.ts) before it takes a task, so the first job pays neither.
    getPool();
    const kernel = describeKernel(options.kernel);
    if (kernel.nativeUnavailable) {
      log.warn({ ...kernel }, `training kernel: ${kernel.kernel} (native accelerator not loaded: ${kernel.nativeUnavailable})`);
    } else {
      log.info({ ...kernel }, `training kernel: ${kernel.kernel}${kernel.isa ? ` (${kernel.isa})` : ''}`);
    }
    // Embedded mode has one owner (the data directory lock): jobs left 'running' belong to a process that is gone,
    // so they are claimable now instead of when their leases would have run out.
    const embedded = store as JobStore & { expireAllLeases?: () => Promise<number> };
    if (role === 'all' && embedded.expireAllLeases) {
      const n = await embedded.expireAllLeases();
      if (n > 0) log.info({ jobs: n }, 'resuming jobs that were running when the last process stopped');
    }
    supervisor.start();
  }

  async function drain(deadlineMs: number): Promise<void> {
    stopping = true;
    service.stopAccepting();
    if (supervisor) await supervisor.stop(deadlineMs, async () => void (pool && (await pool.destroy())));
    else if (pool) await pool.destroy();
    if (webhooks) await webhooks.stop();
    // Streams close with the job's current status (a drained job is 'queued' again, and resumes on another node).
    const latest = new Map<string, ReturnType<typeof statusMessage>>();
    for (const known of feed.watchedJobs()) {
      const job = await store.getJob(known.tenant, known.id).catch(() => known);
      const message = statusMessage(job ?? { ...known, status: 'cancelled' });
      if (message.status === 'queued' || message.status === 'running') {
        message.closing =
          `server_shutdown: this server is shutting down; the job is ${message.status} and continues ` +
          `${store.kind === 'sqlite' ? 'when the server restarts' : 'on another worker'} from its last snapshot; reconnect to follow it`;
      }
      latest.set(known.id, message);
    }
    hub.closeAll((jobId) => latest.get(jobId) ?? null);
    hub.shutdown();
    feed.close();
    if (ownsBus) await bus.close();
  }

  return {
    submit: (tenant, spec, key) => service.submit(tenant, spec, key),
    get: (tenant, id) => service.get(tenant, id),
    list: (query) => service.list(query),
    metrics: (tenant, id) => service.metrics(tenant, id),
    rows: (tenant, id, part, offset, limit) => service.rows(tenant, id, part, offset, limit),
    cancel: (tenant, id) => service.cancel(tenant, id),
    delete: (tenant, id) => service.delete(tenant, id),
    subscribe: (tenant, id, subscriber, fromEpoch) => service.subscribe(tenant, id, subscriber, fromEpoch),
    predict: (tenant, id, x) => service.predict(tenant, id, x),
    start,
    stop(opts = {}) {
      stopped ??= drain(opts.deadlineMs ?? 10_000);
      return stopped;
    },
    /**
     * GET /readyz: this node can do its job now: the runtime has started and is not stopping, and the store answers.
     */
    async ready() {
      if (!started) return { ready: false, reason: 'the job runtime has not started' };
      if (stopping) return { ready: false, reason: 'the job runtime is stopping' };
      try {
        await store.ping();
      } catch (err) {
        return { ready: false, reason: `store query failed: ${(err as Error).message}` };
      }
      return { ready: true };
    },
    stats() {
      return { role, nodeId, running: supervisor?.runs().length ?? 0, workers: supervisor?.capacity ?? 0, stopping };
    },
  };
}
