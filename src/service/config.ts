/**
 * Service configuration from the environment, validated by zod. Every variable has a default that serves the
 * embedded setup (SQLite in ./data, loopback only); an invalid value stops the start with a message naming the
 * variable, the value and what is expected.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { loadSecurityConfig, type SecurityConfig } from './auth/security-config.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';
import type { WebhookSettings } from './webhooks/dispatcher.js';

const MiB = 1024 * 1024;

/** An integer from an environment string: '1e6' and '1_000_000' are accepted, '12abc' is not. */
function intVar(min: number, defaultValue: number | (() => number)) {
  return z.preprocess(
    (raw) => (raw === undefined || raw === '' ? undefined : typeof raw === 'string' ? Number(raw.replaceAll('_', '')) : raw),
    z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(min, { error: `must be >= ${min}` })
      .max(Number.MAX_SAFE_INTEGER, { error: 'is too large' })
      .default(typeof defaultValue === 'function' ? defaultValue : () => defaultValue),
  );
}

export const configEnvSchema = z.object({
  PORT: intVar(0, 8080).pipe(z.number().max(65535, { error: 'must be a TCP port (0..65535)' })),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  WORKERS: intVar(1, () => availableParallelism()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_INPUT_DIM: intVar(1, 10_000),
  MAX_HIDDEN_DIM: intVar(1, 10_000),
  MAX_OUTPUT_DIM: intVar(1, 1_000),
  MAX_PARAMETERS: intVar(1, 20_000_000),
  MAX_EPOCHS: intVar(1, 100_000),
  MAX_DATASET_ROWS: intVar(1, 1_000_000),
  MAX_BODY_BYTES: intVar(1024, 16 * MiB),
  MAX_QUEUED_JOBS: intVar(0, 100),
  /** Defaults to WORKERS; must not exceed it (each running job holds one worker thread). */
  MAX_RUNNING_JOBS: z.preprocess(
    (raw) => (raw === undefined || raw === '' ? undefined : Number(String(raw).replaceAll('_', ''))),
    z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).min(1, { error: 'must be >= 1' }).optional(),
  ),
  MAX_CHECKPOINTS_PER_JOB: intVar(1, 100),
  JOB_TIMEOUT_MS: intVar(1, 60 * 60 * 1000),
  MAX_JOB_MEMORY_BYTES: intVar(1 * MiB, 1024 * MiB),
  STREAM_BUFFER_MESSAGES: intVar(1, 1_000),
  SHUTDOWN_DEADLINE_MS: intVar(0, 10_000),
  CANCEL_GRACE_MS: intVar(0, 5_000),
  /** V8 heap limits of each worker thread: a job that exceeds them kills only its own thread (worker_crashed). */
  WORKER_MAX_OLD_GENERATION_MB: intVar(16, 512),
  /** Unset: V8's own default (sized from the old generation). */
  WORKER_MAX_YOUNG_GENERATION_MB: z.preprocess(
    (raw) => (raw === undefined || raw === '' ? undefined : Number(String(raw).replaceAll('_', ''))),
    z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).min(1, { error: 'must be >= 1' }).optional(),
  ),
  WORKER_STACK_SIZE_MB: intVar(1, 4),
  /**
   * Matrix kernel of the training and prediction threads: 'auto' = the native accelerator when it was built and
   * loads, else plain WebAssembly SIMD (both give PyTorch's bits); 'relaxed' is faster WebAssembly with fused
   * multiply-adds (last-bit differences); 'js' is the pure TypeScript fallback.
   */
  KERNEL: z.enum(['auto', 'native', 'simd', 'relaxed', 'js']).default('auto'),
  /** PostgreSQL connection string (postgres://user@host:port/db): the shared store of a multi-node deployment. Unset: SQLite in DATA_DIR. */
  DATABASE_URL: z.preprocess(
    (raw) => (raw === '' ? undefined : raw), // set but empty: the embedded default, as when unset
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// connection string' })
      .optional(),
  ),
  /** The PostgreSQL schema for gradloom's tables (several deployments, or test runs, in one database). */
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'must be a plain lower-case identifier (a-z, 0-9, _)' }).optional(),
  /** What this process runs: 'all' (api + worker, the default), 'api' (HTTP, streams, no training) or 'worker'. */
  ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** A worker's claim on a job; a worker that stops renewing it loses its jobs to others after this long. */
  LEASE_MS: intVar(1000, 15_000),
  /** How often a running job writes a crash-recovery snapshot (what a resumed job restarts from); 0 disables. */
  RESUME_SNAPSHOT_MS: intVar(0, 5_000),
  /** This node's id in leases and logs; default hostname-pid-random. */
  NODE_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, { error: 'must be 1-100 characters of A-Z a-z 0-9 . _ : -' }).optional(),
  /**
   * The server key webhook signing secrets derive from (each tenant's: GET /v1/webhooks/secret). Unset: a random key
   * drawn once and kept in the store. Changing it changes every tenant's secret.
   */
  WEBHOOK_SECRET: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
  /** 1: webhooks may go to loopback, private and link-local addresses (refused by default, see docs/security.md). */
  WEBHOOK_ALLOW_PRIVATE: z.enum(['0', '1'], { error: 'must be 0 or 1' }).default('0'),
  /** Peers allowed to set the client address by X-Forwarded-For (see trust-proxy.ts); empty: none. */
  TRUST_PROXY: z
    .string()
    .default('')
    .superRefine((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if (typeof parsed === 'object' && !Array.isArray(parsed)) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
});

export interface Limits {
  maxInputDim: number;
  maxHiddenDim: number;
  maxOutputDim: number;
  maxParameters: number;
  maxEpochs: number;
  maxDatasetRows: number;
  maxBodyBytes: number;
  maxQueuedJobs: number;
  maxRunningJobs: number;
  maxCheckpointsPerJob: number;
  jobTimeoutMs: number;
  maxJobMemoryBytes: number;
  streamBufferMessages: number;
}

export interface WorkerResourceLimits {
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb?: number;
  stackSizeMb: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  workers: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  shutdownDeadlineMs: number;
  cancelGraceMs: number;
  /** KERNEL: the matrix kernel the worker threads pin (see src/service/pool/pool.ts). Absent: 'auto'. */
  kernel?: 'auto' | 'native' | 'simd' | 'relaxed' | 'js';
  /** DATABASE_URL: PostgreSQL for many nodes; absent: the embedded SQLite store in dataDir. */
  databaseUrl?: string;
  /** DATABASE_SCHEMA: the PostgreSQL schema holding gradloom's tables (created when missing). Absent: the server's default. */
  databaseSchema?: string;
  /** ROLE: which parts of the runtime this process runs (see src/service/jobs/manager.ts). Absent: 'all'. */
  role?: 'all' | 'api' | 'worker';
  /** LEASE_MS: a worker's claim on a job. Absent: 15 s. */
  leaseMs?: number;
  /** RESUME_SNAPSHOT_MS: crash-recovery snapshot interval of running jobs. Absent: 5 s. */
  resumeSnapshotMs?: number;
  /** NODE_ID: this node's id in leases and logs. */
  nodeId?: string;
  /** Fastify's trustProxy (TRUST_PROXY): whose X-Forwarded-For sets request.ip. Absent: trust nobody. */
  trustProxy?: TrustProxy;
  /** Piscina/worker_threads resourceLimits of every training and prediction thread. */
  workerResourceLimits: WorkerResourceLimits;
  limits: Limits;
  /** WEBHOOK_SECRET, WEBHOOK_ALLOW_PRIVATE; tests also set backoff, timeout and poll interval here. */
  webhooks?: WebhookSettings;
  /** Keys, per-tenant quotas, CORS, timeouts, heartbeats (src/service/auth/security-config.ts). */
  security?: SecurityConfig;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly variables: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the variables a zod object schema names out of `env`. Throws one ConfigError naming every bad variable with
 * its value, except the `secret` ones, whose values are never echoed.
 */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined>,
  secret: readonly string[] = [],
): z.output<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) picked[key] = env[key];
  const parsed = schema.safeParse(picked);
  if (parsed.success) return parsed.data;
  const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
  const lines = parsed.error.issues.map((i) => {
    const name = String(i.path[0]);
    const shown = secret.includes(name) ? '<redacted>' : JSON.stringify(env[name] ?? '');
    return `${name}=${shown}: ${i.message}`;
  });
  throw new ConfigError(`invalid configuration: ${lines.join('; ')}`, names);
}

/** Reads the configuration from `env` (process.env by default). Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // DATABASE_URL may carry a password, WEBHOOK_SECRET is one: never echoed.
  const e = parseEnv(configEnvSchema, env, ['DATABASE_URL', 'WEBHOOK_SECRET']);
  const maxRunningJobs = e.MAX_RUNNING_JOBS ?? e.WORKERS;
  if (maxRunningJobs > e.WORKERS) {
    throw new ConfigError(
      `invalid configuration: MAX_RUNNING_JOBS=${maxRunningJobs} cannot exceed WORKERS=${e.WORKERS} (each running job needs its own worker thread)`,
      ['MAX_RUNNING_JOBS'],
    );
  }
  if (e.ROLE !== 'all' && e.DATABASE_URL === undefined) {
    throw new ConfigError(
      `invalid configuration: ROLE=${e.ROLE} needs DATABASE_URL (api and worker nodes share a PostgreSQL database; ` +
        `the embedded SQLite store in DATA_DIR has a single owner, ROLE=all)`,
      ['ROLE', 'DATABASE_URL'],
    );
  }
  return {
    port: e.PORT,
    ...(e.DATABASE_URL !== undefined ? { databaseUrl: e.DATABASE_URL } : {}),
    ...(e.DATABASE_SCHEMA !== undefined ? { databaseSchema: e.DATABASE_SCHEMA } : {}),
    role: e.ROLE,
    leaseMs: e.LEASE_MS,
    resumeSnapshotMs: e.RESUME_SNAPSHOT_MS,
    ...(e.NODE_ID !== undefined ? { nodeId: e.NODE_ID } : {}),
    host: e.HOST,
    dataDir: e.DATA_DIR,
    workers: e.WORKERS,
    logLevel: e.LOG_LEVEL,
    shutdownDeadlineMs: e.SHUTDOWN_DEADLINE_MS,
    cancelGraceMs: e.CANCEL_GRACE_MS,
    kernel: e.KERNEL,
    trustProxy: parseTrustProxy(e.TRUST_PROXY) as TrustProxy,
    workerResourceLimits: {
      maxOldGenerationSizeMb: e.WORKER_MAX_OLD_GENERATION_MB,
      ...(e.WORKER_MAX_YOUNG_GENERATION_MB !== undefined ? { maxYoungGenerationSizeMb: e.WORKER_MAX_YOUNG_GENERATION_MB } : {}),
      stackSizeMb: e.WORKER_STACK_SIZE_MB,
    },
    webhooks: {
      ...(e.WEBHOOK_SECRET !== undefined ? { secret: e.WEBHOOK_SECRET } : {}),
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === '1',
    },
    security: loadSecurityConfig(env),
    limits: {
      maxInputDim: e.MAX_INPUT_DIM,
      maxHiddenDim: e.MAX_HIDDEN_DIM,
      maxOutputDim: e.MAX_OUTPUT_DIM,
      maxParameters: e.MAX_PARAMETERS,
      maxEpochs: e.MAX_EPOCHS,
      maxDatasetRows: e.MAX_DATASET_ROWS,
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxQueuedJobs: e.MAX_QUEUED_JOBS,
      maxRunningJobs,
      maxCheckpointsPerJob: e.MAX_CHECKPOINTS_PER_JOB,
      jobTimeoutMs: e.JOB_TIMEOUT_MS,
      maxJobMemoryBytes: e.MAX_JOB_MEMORY_BYTES,
      streamBufferMessages: e.STREAM_BUFFER_MESSAGES,
    },
  };
}

/** The environment variable behind each limit, so that error messages name what an operator can change. */
export const LIMIT_VARIABLES: Record<keyof Limits, string> = {
  maxInputDim: 'MAX_INPUT_DIM',
  maxHiddenDim: 'MAX_HIDDEN_DIM',
  maxOutputDim: 'MAX_OUTPUT_DIM',
  maxParameters: 'MAX_PARAMETERS',
  maxEpochs: 'MAX_EPOCHS',
  maxDatasetRows: 'MAX_DATASET_ROWS',
  maxBodyBytes: 'MAX_BODY_BYTES',
  maxQueuedJobs: 'MAX_QUEUED_JOBS',
  maxRunningJobs: 'MAX_RUNNING_JOBS',
  maxCheckpointsPerJob: 'MAX_CHECKPOINTS_PER_JOB',
  jobTimeoutMs: 'JOB_TIMEOUT_MS',
  maxJobMemoryBytes: 'MAX_JOB_MEMORY_BYTES',
  streamBufferMessages: 'STREAM_BUFFER_MESSAGES',
};
