/**
 * The shared JobStore: PostgreSQL through a `pg` Pool, for deployments of many api and worker nodes. Same contract
 * and semantics as the SQLite store (src/service/store/sqlite.ts); what differs:
 *
 * - Time that decides who owns a job is the DATABASE clock: leases expire at `now() + leaseMs` and are compared with
 *   `now()`, so nodes whose clocks disagree still agree on which leases are live. Timestamps the store writes itself
 *   (claim's startedAt, updatedAt) also come from the database clock.
 * - A claim is one statement: the fair-order pick runs `FOR UPDATE SKIP LOCKED`, so concurrent claimers on any
 *   nodes never take the same job and never wait for each other. Fairness is computed from each claimer's snapshot:
 *   two claims at the same instant may both serve the same tenant (SQLite, one writer, cannot), which evens out on
 *   the next claims.
 * - Fenced writes (appendEpochs, putCheckpoint, putResumeState, updateRun) are each ONE statement, so one round trip
 *   and one implicit transaction: a data-modifying CTE first locks the job row under the fence condition
 *   (`attempt = $2 AND status = 'running' AND lease_expires_at > now()`, re-checked on the newest row version when a
 *   concurrent claim changed it) and the inserts select FROM that CTE, so they write nothing when the fence does not
 *   hold; then LeaseLostError is thrown. Epoch batches are one INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE.
 *   Writes that also delete rows of other tables (a terminal updateRun, deleteJob, a queued job's cancel) run as
 *   explicit transactions instead: a later statement sees rows committed while the first one waited for the lock.
 * - Database errors (unreachable, a failed write) propagate as they are; the runtime maps them. An idle pooled
 *   connection that breaks is logged and replaced, never an uncaught 'error' event.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import type {
  CheckpointInfo,
  Claim,
  Dataset,
  DatasetRecord,
  EpochEvent,
  Fence,
  JobRecord,
  JobRows,
  JobStore,
  LeaseState,
  ListJobsQuery,
  Page,
  PackedRows,
  RowsPart,
  RunPatch,
  WebhookAttemptOutcome,
  WebhookDelivery,
} from '../jobs/types.js';
import { TERMINAL_STATUSES } from '../jobs/types.js';
import { LeaseLostError } from '../jobs/errors.js';
import { checkFiniteLosses, decodeCursor, encodeCursor, packMatrix, datasetRows, rowToDatasetRecord, rowToJob, type DatasetRowFields, type JobRowFields } from './codec.js';
import { migratePostgres } from './pg-migrations.js';
import { newWebhookDelivery } from '../webhooks/payload.js';
import { clipError, rowToDelivery, WEBHOOK_COLS, type WebhookDeliveryRow } from './webhook-rows.js';

/** The subset of pino the store uses. */
export interface PgStoreLogger {
  warn(obj: object, msg?: string): void;
}

export interface PostgresStoreOptions {
  connectionString: string;
  /**
   * Schema holding the tables (created when missing, and set as `search_path` on every pooled connection); absent:
   * the server's default search_path (normally `public`). Lower-case letters, digits and underscores only.
   */
  schema?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Give up connecting after this long (the caller sees the error instead of waiting forever). Default 5000 ms. */
  connectionTimeoutMs?: number;
  /** A statement running longer than this fails. Default 30 000 ms; 0 disables. */
  statementTimeoutMs?: number;
  /** Shown in pg_stat_activity. Default 'gradloom'. */
  applicationName?: string;
  logger?: PgStoreLogger;
}

interface JobRow extends JobRowFields {
  seq: string; // bigint: pg returns it as a string
}

interface DatasetRow extends DatasetRowFields {
  x?: Buffer;
  y?: Buffer;
}

/** The columns a JobRecord needs (never the lease columns, never `SELECT *` of a wide row by accident). */
const JOB_COLS = `seq, id, tenant, name, status, spec, epoch, epochs, last_loss, created_at, started_at, finished_at,
  updated_at, error, version, details`;
/** The database clock as an ISO 8601 string, the format of Date.prototype.toISOString (JobRecord timestamps). */
const NOW_ISO = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
/** The fence condition on table alias-free `jobs` with $1 = job id, $2 = attempt. */
const FENCE_WHERE = `id = $1 AND attempt = $2 AND status = 'running' AND lease_expires_at > now()`;
/** The database clock in ms since the epoch: webhook deliveries' due times and leases (bigint columns). */
const NOW_MS = `(extract(epoch FROM now()) * 1000)::bigint`;

type Query = <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>;

/** Inside the transaction that wrote the job's terminal status: its webhook delivery, when the spec names one. */
async function insertWebhookDelivery(query: Query, job: JobRecord, createdAt: string): Promise<void> {
  const d = newWebhookDelivery(job, randomUUID(), createdAt);
  if (!d) return;
  await query(
    `INSERT INTO webhook_deliveries (id, job_id, tenant, url, event, payload, status, attempts, next_attempt_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, ${NOW_MS}, $7)`,
    [d.id, d.jobId, d.tenant, d.url, d.event, d.payload, d.createdAt],
  );
}

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const toBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export class PostgresJobStore implements JobStore {
  readonly kind = 'postgres';
  readonly pool: pg.Pool;
  /** How the pool connects (schema, timeouts): PgBus's LISTEN connection uses the same. */
  readonly clientConfig: pg.ClientConfig;
  /** Statements sent (each query call is one round trip), for the cost figures in bench/store.ts. */
  statements = 0;
  private closed = false;

  constructor(
    pool: pg.Pool,
    clientConfig: pg.ClientConfig,
    private readonly logger?: PgStoreLogger,
  ) {
    this.pool = pool;
    this.clientConfig = clientConfig;
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    this.statements++;
    return this.pool.query<R>(sql, params);
  }

  /** Runs `fn` in a transaction on one pooled connection (BEGIN and COMMIT count as statements). */
  private async tx<T>(fn: (query: <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const query = <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> => {
      this.statements++;
      return client.query<R>(sql, params);
    };
    let broken = false;
    // A checked-out client has no pool listener: without this, a connection lost mid-transaction would emit an
    // unhandled 'error' and crash the process. The failing query rejects by itself.
    const onError = (err: Error): void => {
      broken = true;
      this.logger?.warn({ err }, 'postgres connection lost during a transaction');
    };
    client.on('error', onError);
    try {
      await query('BEGIN');
      const out = await fn(query);
      await query('COMMIT');
      return out;
    } catch (err) {
      try {
        await query('ROLLBACK');
      } catch {
        broken = true; // the connection itself failed: do not hand it back to the pool
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async createJob(job: JobRecord, idempotencyKey?: string, rows: JobRows = {}): Promise<{ job: JobRecord; created: boolean }> {
    const params: unknown[] = [
      job.id, job.tenant, job.name, job.status, JSON.stringify(job.spec), job.epoch, job.epochs, job.lastLoss,
      job.createdAt, job.startedAt, job.finishedAt, job.updatedAt, job.error === null ? null : JSON.stringify(job.error),
      job.version, idempotencyKey ?? null, job.details ? JSON.stringify(job.details) : null,
    ];
    const insert = `INSERT INTO jobs (id, tenant, name, status, spec, epoch, epochs, last_loss, created_at, started_at,
        finished_at, updated_at, error, version, idempotency_key, details)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`;
    // The inline rows go in the same statement (a data-modifying CTE): both or neither, and none when the
    // idempotency key's conflict inserted no job.
    const parts = Object.entries(rows).filter((e): e is [RowsPart, PackedRows] => e[1] !== undefined);
    const values = parts.map(([part, r]) => {
      const at = params.length;
      params.push(part, r.rows, r.inputDim, r.outputDim, r.x.byteLength + r.y.byteLength, asBuffer(r.x), asBuffer(r.y));
      return `($${at + 1}::text, $${at + 2}::int, $${at + 3}::int, $${at + 4}::int, $${at + 5}::bigint, $${at + 6}::bytea, $${at + 7}::bytea)`;
    });
    const withRows = (statement: string): string =>
      parts.length === 0
        ? statement
        : `WITH j AS (${statement}),
             r AS (INSERT INTO job_rows (job_id, part, tenant, rows, input_dim, output_dim, bytes, x, y)
                   SELECT j.id, v.part, j.tenant, v.rows, v.input_dim, v.output_dim, v.bytes, v.x, v.y
                   FROM j CROSS JOIN (VALUES ${values.join(', ')}) AS v (part, rows, input_dim, output_dim, bytes, x, y))
           SELECT * FROM j`;
    if (idempotencyKey === undefined) {
      const { rows: inserted } = await this.q<JobRow>(withRows(`${insert} RETURNING ${JOB_COLS}`), params);
      return { job: rowToJob(inserted[0]!), created: true };
    }
    // Two nodes submitting the same key at once: one inserts, the other finds its row (no unique-violation error).
    for (let tries = 0; ; tries++) {
      const { rows: inserted } = await this.q<JobRow>(
        withRows(
          `${insert} ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
           RETURNING ${JOB_COLS}`,
        ),
        params,
      );
      if (inserted[0]) return { job: rowToJob(inserted[0]), created: true };
      const existing = await this.findJobByIdempotencyKey(job.tenant, idempotencyKey);
      if (existing) return { job: existing, created: false };
      // The conflicting row was deleted between the two statements: try the insert again (a few times at most).
      if (tries >= 3) throw new Error(`job ${job.id}: idempotency key ${JSON.stringify(idempotencyKey)} kept conflicting`);
    }
  }

  async findJobByIdempotencyKey(tenant: string, key: string): Promise<JobRecord | null> {
    const { rows } = await this.q<JobRow>(`SELECT ${JOB_COLS} FROM jobs WHERE tenant = $1 AND idempotency_key = $2`, [
      tenant,
      key,
    ]);
    return rows[0] ? rowToJob(rows[0]) : null;
  }

  async getJob(tenant: string, id: string): Promise<JobRecord | null> {
    const { rows } = await this.q<JobRow>(`SELECT ${JOB_COLS} FROM jobs WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return rows[0] ? rowToJob(rows[0]) : null;
  }

  /** Newest first, keyset-paginated on the insertion sequence (see SqliteJobStore.listJobs). */
  async listJobs(query: ListJobsQuery): Promise<Page<JobRecord>> {
    const limit = Math.max(1, Math.floor(query.limit));
    let before = '9223372036854775807';
    if (query.cursor !== undefined) {
      const seq = decodeCursor(query.cursor);
      if (seq === null) return { items: [], nextCursor: null };
      before = seq;
    }
    // Filters compose; each narrows the tenant's keyset scan (tags live in the stored spec, JSON text).
    const params: unknown[] = [query.tenant, before];
    const where = ['tenant = $1', 'seq < $2'];
    const param = (v: unknown): string => `$${params.push(v)}`;
    if (query.status) where.push(`status = ${param(query.status)}`);
    if (query.tag !== undefined) where.push(`(spec::jsonb -> 'tags') ? ${param(query.tag)}`);
    if (query.name !== undefined) where.push(`strpos(lower(name), lower(${param(query.name)})) > 0`);
    const { rows } = await this.q<JobRow>(
      `SELECT ${JOB_COLS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ${param(limit + 1)}`,
      params,
    );
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { items: page.map(rowToJob), nextCursor: more ? encodeCursor(page[page.length - 1]!.seq) : null };
  }

  async listUnfinishedJobs(): Promise<JobRecord[]> {
    const { rows } = await this.q<JobRow>(
      `SELECT ${JOB_COLS} FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq ASC`,
    );
    return rows.map(rowToJob);
  }

  async updateRun(fence: Fence, patch: RunPatch): Promise<JobRecord> {
    const sets: string[] = [];
    const params: unknown[] = [fence.jobId, fence.attempt];
    const set = (column: string, value: unknown): void => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.epoch !== undefined) set('epoch', patch.epoch);
    if (patch.lastLoss !== undefined) set('last_loss', patch.lastLoss);
    if (patch.startedAt !== undefined) set('started_at', patch.startedAt);
    if (patch.finishedAt !== undefined) set('finished_at', patch.finishedAt);
    if (patch.error !== undefined) set('error', patch.error === null ? null : JSON.stringify(patch.error));
    if (patch.details !== undefined) set('details', patch.details === null ? null : JSON.stringify(patch.details));
    // The fence requires status 'running', so the claim ends exactly when the patch sets another status.
    if (patch.status !== undefined && patch.status !== 'running') sets.push('lease_owner = NULL', 'lease_expires_at = NULL');
    sets.push(`updated_at = ${NOW_ISO}`, 'version = version + 1');
    const update = `UPDATE jobs SET ${sets.join(', ')} WHERE ${FENCE_WHERE} RETURNING ${JOB_COLS}`;

    if (patch.status === undefined || !TERMINAL_STATUSES.includes(patch.status)) {
      const { rows } = await this.q<JobRow>(update, params);
      if (!rows[0]) throw new LeaseLostError(fence.jobId, fence.attempt);
      return rowToJob(rows[0]);
    }
    // A finished job never resumes: its crash-recovery snapshot goes in the same transaction.
    return this.tx(async (query) => {
      const { rows } = await query<JobRow>(update, params);
      if (!rows[0]) throw new LeaseLostError(fence.jobId, fence.attempt);
      await query('DELETE FROM resume_states WHERE job_id = $1', [fence.jobId]);
      const job = rowToJob(rows[0]);
      // At least once: the delivery commits with the status that it announces.
      await insertWebhookDelivery(query, job, job.updatedAt);
      return job;
    });
  }

  /**
   * Fair order as in SQLite: the tenant with the fewest running jobs (live leases), then the tenant served longest
   * ago, then the oldest job. Runnable: queued, or running with an expired lease. One statement: pick and lock
   * (skipping rows other claimers hold), claim, and record the tenant as served.
   */
  async claimNext(owner: string, leaseMs: number): Promise<Claim | null> {
    const { rows } = await this.q<JobRow & { attempt: number }>(
      `WITH live AS (
         SELECT tenant, count(*) AS n FROM jobs WHERE status = 'running' AND lease_expires_at > now() GROUP BY tenant
       ), pick AS (
         SELECT j.id FROM jobs j
           LEFT JOIN live r ON r.tenant = j.tenant
           LEFT JOIN tenant_dispatch d ON d.tenant = j.tenant
         WHERE j.status = 'queued'
            OR (j.status = 'running' AND (j.lease_expires_at IS NULL OR j.lease_expires_at <= now()))
         ORDER BY COALESCE(r.n, 0), COALESCE(d.served, 0), j.seq
         LIMIT 1
         FOR UPDATE OF j SKIP LOCKED
       ), claimed AS (
         UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_owner = $1,
           lease_expires_at = now() + $2 * interval '1 millisecond',
           started_at = COALESCE(started_at, ${NOW_ISO}), updated_at = ${NOW_ISO}, version = version + 1
         FROM pick WHERE jobs.id = pick.id
         RETURNING ${JOB_COLS.replace(/(\w+)/g, 'jobs.$1')}, jobs.attempt
       ), served AS (
         INSERT INTO tenant_dispatch (tenant, served) SELECT tenant, nextval('tenant_dispatch_served') FROM claimed
         ON CONFLICT (tenant) DO UPDATE SET served = excluded.served
       )
       SELECT * FROM claimed`,
      [owner, leaseMs],
    );
    const row = rows[0];
    if (!row) return null;
    return { job: rowToJob(row), fence: { jobId: row.id, attempt: row.attempt } };
  }

  async renewLease(fence: Fence, leaseMs: number): Promise<LeaseState> {
    const { rows } = await this.q<{ cancel_requested: boolean }>(
      `UPDATE jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' WHERE ${FENCE_WHERE}
       RETURNING cancel_requested`,
      [fence.jobId, fence.attempt, leaseMs],
    );
    if (!rows[0]) return { held: false, cancelRequested: false };
    return { held: true, cancelRequested: rows[0].cancel_requested };
  }

  async countQueued(): Promise<number> {
    const { rows } = await this.q<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'queued'`);
    return rows[0]!.n;
  }

  async listRunning(limit: number): Promise<JobRecord[]> {
    const { rows } = await this.q<JobRow>(
      `SELECT ${JOB_COLS} FROM jobs WHERE status = 'running' ORDER BY seq LIMIT $1`,
      [Math.max(0, Math.floor(limit))],
    );
    return rows.map(rowToJob);
  }

  async requestCancel(tenant: string, id: string, now: string): Promise<{ job: JobRecord; cancelledNow: boolean } | null> {
    return this.tx(async (query) => {
      // Locked: a claim (which would turn a queued job into a running one) waits for this decision, or skips the job.
      const { rows } = await query<JobRow>(`SELECT ${JOB_COLS} FROM jobs WHERE tenant = $1 AND id = $2 FOR UPDATE`, [
        tenant,
        id,
      ]);
      const job = rows[0];
      if (!job) return null;
      if (job.status === 'queued') {
        const updated = await query<JobRow>(
          `UPDATE jobs SET status = 'cancelled', finished_at = $2, updated_at = $2, version = version + 1,
             lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 RETURNING ${JOB_COLS}`,
          [id, now],
        );
        await query('DELETE FROM resume_states WHERE job_id = $1', [id]);
        const cancelled = rowToJob(updated.rows[0]!);
        await insertWebhookDelivery(query, cancelled, now);
        return { job: cancelled, cancelledNow: true };
      }
      if (job.status === 'running') await query('UPDATE jobs SET cancel_requested = true WHERE id = $1', [id]);
      return { job: rowToJob(job), cancelledNow: false };
    });
  }

  /**
   * A random 32-byte key every node of the deployment shares, drawn by the first node that asks for `name` (for
   * example the stream-token HMAC key: `new StreamTokenIssuer(ttl, await store.sharedSecret('stream_tokens'))`).
   */
  async sharedSecret(name: string): Promise<Buffer> {
    await this.q('INSERT INTO shared_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
      name,
      randomBytes(32),
    ]);
    // A separate statement: it sees the row a concurrent first caller committed while the insert above waited.
    const { rows } = await this.q<{ value: Buffer }>('SELECT value FROM shared_secrets WHERE name = $1', [name]);
    return rows[0]!.value;
  }

  /** One statement: pick due deliveries, skipping those other claimers hold, lease them on the database clock. */
  async claimWebhookDeliveries(limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    const { rows } = await this.q<WebhookDeliveryRow>(
      `WITH due AS (
         SELECT id FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ${NOW_MS} AND (lease_until IS NULL OR lease_until <= ${NOW_MS})
         ORDER BY next_attempt_at LIMIT $1
         FOR UPDATE SKIP LOCKED
       )
       UPDATE webhook_deliveries w SET lease_until = ${NOW_MS} + $2, attempts = w.attempts + 1
       FROM due WHERE w.id = due.id
       RETURNING ${WEBHOOK_COLS.replace(/(\w+)/g, 'w.$1')}`,
      [Math.max(0, Math.floor(limit)), Math.max(0, Math.floor(leaseMs))],
    );
    return rows.map(rowToDelivery).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt);
  }

  async recordWebhookAttempt(id: string, attempt: number, outcome: WebhookAttemptOutcome): Promise<boolean> {
    const retry = !outcome.delivered && outcome.retryInMs !== undefined;
    const { rowCount } = await this.q(
      `UPDATE webhook_deliveries SET status = $3, last_status_code = $4, last_error = $5,
         delivered_at = CASE WHEN $3 = 'delivered' THEN ${NOW_ISO} END, next_attempt_at = ${NOW_MS} + $6,
         lease_until = NULL
       WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
      [
        id,
        attempt,
        outcome.delivered ? 'delivered' : retry ? 'pending' : 'failed',
        outcome.statusCode,
        outcome.delivered ? null : clipError(outcome.error),
        retry ? Math.max(0, Math.floor(outcome.retryInMs!)) : 0,
      ],
    );
    return (rowCount ?? 0) > 0;
  }

  async listWebhookDeliveries(tenant: string, jobId: string): Promise<WebhookDelivery[]> {
    const { rows } = await this.q<WebhookDeliveryRow>(
      `SELECT ${WEBHOOK_COLS} FROM webhook_deliveries WHERE tenant = $1 AND job_id = $2 ORDER BY created_at, id`,
      [tenant, jobId],
    );
    return rows.map(rowToDelivery);
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  async getJobRows(jobId: string, part: RowsPart, offset = 0, limit?: number): Promise<{ total: number; rows: PackedRows } | null> {
    const head = await this.q<{ rows: number; input_dim: number; output_dim: number }>(
      'SELECT rows, input_dim, output_dim FROM job_rows WHERE job_id = $1 AND part = $2',
      [jobId, part],
    );
    const h = head.rows[0];
    if (!h) return null;
    const from = Math.min(Math.max(0, offset), h.rows);
    const count = Math.min(h.rows - from, limit ?? h.rows);
    // substring on bytea counts bytes (1-based): only the rows asked for leave the database.
    const { rows } = await this.q<{ x: Buffer; y: Buffer }>(
      `SELECT substring(x FROM $3::int FOR $4::int) AS x, substring(y FROM $5::int FOR $6::int) AS y
       FROM job_rows WHERE job_id = $1 AND part = $2`,
      [jobId, part, from * h.input_dim * 8 + 1, count * h.input_dim * 8, from * h.output_dim * 8 + 1, count * h.output_dim * 8],
    );
    const r = rows[0];
    if (!r) return null;
    return { total: h.rows, rows: { rows: count, inputDim: h.input_dim, outputDim: h.output_dim, x: r.x, y: r.y } };
  }

  async deleteJob(tenant: string, id: string): Promise<boolean> {
    return this.tx(async (query) => {
      // Deleting the row first takes its lock: a fenced write in flight commits first (and is deleted below) or
      // waits and then finds no job (LeaseLostError). Each DELETE below sees what committed before it.
      const { rowCount } = await query('DELETE FROM jobs WHERE tenant = $1 AND id = $2', [tenant, id]);
      if (!rowCount) return false;
      await query('DELETE FROM job_rows WHERE job_id = $1', [id]);
      await query('DELETE FROM epochs WHERE job_id = $1', [id]);
      await query('DELETE FROM checkpoints WHERE job_id = $1', [id]);
      await query('DELETE FROM resume_states WHERE job_id = $1', [id]);
      await query('DELETE FROM webhook_deliveries WHERE job_id = $1', [id]);
      return true;
    });
  }

  /**
   * One statement per batch: fence the job row and move its `epoch`/`lastLoss` to the batch's last event, then
   * upsert the batch's rows (re-running epochs after a resume point replaces them with the same values).
   */
  async appendEpochs(fence: Fence, events: EpochEvent[]): Promise<void> {
    if (events.length === 0) return;
    checkFiniteLosses(events);
    // ON CONFLICT DO UPDATE cannot touch one row twice in a statement: a batch that repeats an epoch keeps its last.
    const byEpoch = new Map<number, EpochEvent>();
    for (const e of events) byEpoch.set(e.epoch, e);
    const batch = [...byEpoch.values()];
    const last = events[events.length - 1]!;
    const { rows } = await this.q<{ held: number }>(
      `WITH fence AS (
         UPDATE jobs SET epoch = $3, last_loss = $4, updated_at = ${NOW_ISO}, version = version + 1
         WHERE ${FENCE_WHERE} RETURNING id
       ), ins AS (
         INSERT INTO epochs (job_id, epoch, loss, val_loss, elapsed_ms)
         SELECT fence.id, e.epoch, e.loss, e.val_loss, e.elapsed_ms
         FROM fence, unnest($5::int[], $6::float8[], $7::float8[], $8::float8[]) AS e(epoch, loss, val_loss, elapsed_ms)
         ON CONFLICT (job_id, epoch) DO UPDATE
           SET loss = excluded.loss, val_loss = excluded.val_loss, elapsed_ms = excluded.elapsed_ms
       )
       SELECT count(*)::int AS held FROM fence`,
      [
        fence.jobId,
        fence.attempt,
        last.epoch,
        last.loss,
        batch.map((e) => e.epoch),
        batch.map((e) => e.loss),
        batch.map((e) => e.valLoss ?? null),
        batch.map((e) => e.elapsedMs),
      ],
    );
    if (rows[0]!.held === 0) throw new LeaseLostError(fence.jobId, fence.attempt);
  }

  async getEpochs(jobId: string, fromEpoch = 1, limit?: number): Promise<EpochEvent[]> {
    this.statements++;
    const { rows } = await this.pool.query<[number, number, number | null, number]>({
      text: 'SELECT epoch, loss, val_loss, elapsed_ms FROM epochs WHERE job_id = $1 AND epoch >= $2 ORDER BY epoch LIMIT $3',
      values: [jobId, fromEpoch, limit ?? null],
      rowMode: 'array',
    });
    const out: EpochEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = r[2] === null ? { epoch: r[0], loss: r[1], elapsedMs: r[3] } : { epoch: r[0], loss: r[1], valLoss: r[2], elapsedMs: r[3] };
    }
    return out;
  }

  async putCheckpoint(fence: Fence, info: CheckpointInfo, safetensors: Uint8Array, resumeState?: Uint8Array): Promise<void> {
    const { rows } = await this.q<{ held: number }>(
      `WITH fence AS (
         SELECT id FROM jobs WHERE ${FENCE_WHERE} FOR UPDATE
       ), ckpt AS (
         INSERT INTO checkpoints (job_id, kind, epoch, created_at, bytes, data)
         SELECT id, $3, $4, $5, $6, $7 FROM fence
         ON CONFLICT (job_id, kind, epoch) DO UPDATE
           SET created_at = excluded.created_at, bytes = excluded.bytes, data = excluded.data
       ), resume AS (
         INSERT INTO resume_states (job_id, epoch, created_at, safetensors, state)
         SELECT id, $4, ${NOW_ISO}, $7, $8 FROM fence WHERE $8::bytea IS NOT NULL
         ON CONFLICT (job_id) DO UPDATE
           SET epoch = excluded.epoch, created_at = excluded.created_at, safetensors = excluded.safetensors,
               state = excluded.state
       )
       SELECT count(*)::int AS held FROM fence`,
      [
        fence.jobId,
        fence.attempt,
        info.kind,
        info.epoch,
        info.createdAt,
        safetensors.byteLength,
        asBuffer(safetensors),
        resumeState ? asBuffer(resumeState) : null,
      ],
    );
    if (rows[0]!.held === 0) throw new LeaseLostError(fence.jobId, fence.attempt);
  }

  async putResumeState(fence: Fence, epoch: number, safetensors: Uint8Array, resumeState: Uint8Array): Promise<void> {
    const { rows } = await this.q<{ held: number }>(
      `WITH fence AS (
         SELECT id FROM jobs WHERE ${FENCE_WHERE} FOR UPDATE
       ), resume AS (
         INSERT INTO resume_states (job_id, epoch, created_at, safetensors, state)
         SELECT id, $3, ${NOW_ISO}, $4, $5 FROM fence
         ON CONFLICT (job_id) DO UPDATE
           SET epoch = excluded.epoch, created_at = excluded.created_at, safetensors = excluded.safetensors,
               state = excluded.state
       )
       SELECT count(*)::int AS held FROM fence`,
      [fence.jobId, fence.attempt, epoch, asBuffer(safetensors), asBuffer(resumeState)],
    );
    if (rows[0]!.held === 0) throw new LeaseLostError(fence.jobId, fence.attempt);
  }

  async listCheckpoints(jobId: string): Promise<CheckpointInfo[]> {
    const { rows } = await this.q<{ kind: 'final' | 'periodic'; epoch: number; created_at: string; bytes: number }>(
      `SELECT kind, epoch, created_at, bytes FROM checkpoints WHERE job_id = $1 ORDER BY epoch, kind DESC`,
      [jobId],
    );
    return rows.map((r) => ({ kind: r.kind, epoch: r.epoch, createdAt: r.created_at, bytes: r.bytes }));
  }

  async getCheckpoint(jobId: string, epoch?: number): Promise<{ info: CheckpointInfo; safetensors: Uint8Array } | null> {
    // The inner query chooses the row from the key columns only; the outer one reads that one checkpoint's bytes.
    const { rows } = await this.q<{ kind: 'final' | 'periodic'; epoch: number; created_at: string; bytes: number; data: Buffer }>(
      `SELECT c.kind, c.epoch, c.created_at, c.bytes, c.data FROM checkpoints c
       WHERE (c.job_id, c.kind, c.epoch) = (
         SELECT job_id, kind, epoch FROM checkpoints WHERE job_id = $1 AND ($2::int IS NULL OR epoch = $2)
         ORDER BY CASE kind WHEN 'final' THEN 0 ELSE 1 END, epoch DESC LIMIT 1)`,
      [jobId, epoch ?? null],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      info: { kind: row.kind, epoch: row.epoch, createdAt: row.created_at, bytes: row.bytes },
      safetensors: toBytes(row.data),
    };
  }

  async getResumeState(jobId: string): Promise<{ epoch: number; safetensors: Uint8Array; resumeState: Uint8Array } | null> {
    const { rows } = await this.q<{ epoch: number; safetensors: Buffer; state: Buffer }>(
      'SELECT epoch, safetensors, state FROM resume_states WHERE job_id = $1',
      [jobId],
    );
    const row = rows[0];
    if (!row) return null;
    return { epoch: row.epoch, safetensors: toBytes(row.safetensors), resumeState: toBytes(row.state) };
  }

  async createDataset(dataset: Dataset): Promise<DatasetRecord> {
    const x = packMatrix(dataset.x, dataset.inputDim);
    const y = packMatrix(dataset.y, dataset.outputDim);
    const bytes = dataset.bytes > 0 ? dataset.bytes : x.byteLength + y.byteLength;
    const { rows } = await this.q<DatasetRow>(
      `INSERT INTO datasets (id, tenant, name, rows, input_dim, output_dim, columns, created_at, bytes, x, y)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       RETURNING id, tenant, name, rows, input_dim, output_dim, columns, created_at, bytes`,
      [
        dataset.id, dataset.tenant, dataset.name, dataset.rows, dataset.inputDim, dataset.outputDim,
        dataset.columns === null ? null : JSON.stringify(dataset.columns), dataset.createdAt, bytes, x, y,
      ],
    );
    return rowToDatasetRecord(rows[0]!);
  }

  async getDataset(tenant: string, id: string): Promise<{ record: DatasetRecord; rows: PackedRows } | null> {
    const { rows } = await this.q<DatasetRow>('SELECT * FROM datasets WHERE tenant = $1 AND id = $2', [tenant, id]);
    return rows[0] ? datasetRows(rows[0]) : null;
  }

  async getDatasetRecord(tenant: string, id: string): Promise<DatasetRecord | null> {
    const { rows } = await this.q<DatasetRow>(
      `SELECT id, tenant, name, rows, input_dim, output_dim, columns, created_at, bytes
       FROM datasets WHERE tenant = $1 AND id = $2`,
      [tenant, id],
    );
    return rows[0] ? rowToDatasetRecord(rows[0]) : null;
  }

  async deleteDataset(tenant: string, id: string): Promise<boolean> {
    const { rowCount } = await this.q('DELETE FROM datasets WHERE tenant = $1 AND id = $2', [tenant, id]);
    return (rowCount ?? 0) > 0;
  }

  /** The same estimate as SqliteJobStore.tenantUsage, in one round trip. */
  async tenantUsage(tenant: string): Promise<{ bytes: number; queued: number; running: number }> {
    const { rows } = await this.q<{ bytes: string; queued: number; running: number }>(
      `SELECT
         COALESCE((SELECT sum(octet_length(spec) + 200) + sum(epoch) * 24 FROM jobs WHERE tenant = $1), 0)
         + COALESCE((SELECT sum(c.bytes) FROM checkpoints c JOIN jobs j ON j.id = c.job_id WHERE j.tenant = $1), 0)
         + COALESCE((SELECT sum(octet_length(r.safetensors) + octet_length(r.state)) FROM resume_states r
                     JOIN jobs j ON j.id = r.job_id WHERE j.tenant = $1), 0)
         + COALESCE((SELECT sum(bytes) FROM datasets WHERE tenant = $1), 0)
         + COALESCE((SELECT sum(bytes) FROM job_rows WHERE tenant = $1), 0)
         + COALESCE((SELECT sum(octet_length(payload) + 200) FROM webhook_deliveries WHERE tenant = $1), 0) AS bytes,
         (SELECT count(*)::int FROM jobs WHERE tenant = $1 AND status = 'queued') AS queued,
         (SELECT count(*)::int FROM jobs WHERE tenant = $1 AND status = 'running') AS running`,
      [tenant],
    );
    const r = rows[0]!;
    return { bytes: Number(r.bytes), queued: r.queued, running: r.running };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** The pg config shared by the store's pool, its migration connection and PgBus's listener. */
export function pgClientConfig(
  opts: Pick<PostgresStoreOptions, 'connectionString' | 'schema' | 'connectionTimeoutMs' | 'statementTimeoutMs' | 'applicationName'>,
): pg.ClientConfig {
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
    throw new Error(`schema ${JSON.stringify(opts.schema)} is not a plain identifier (a-z, 0-9, _; at most 63 characters)`);
  }
  const statementTimeout = opts.statementTimeoutMs ?? 30_000;
  return {
    connectionString: opts.connectionString,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5000,
    application_name: opts.applicationName ?? 'gradloom',
    // TCP keepalive: a connection to a vanished server eventually errors instead of waiting forever.
    keepAlive: true,
    ...(statementTimeout > 0 ? { statement_timeout: statementTimeout } : {}),
    ...(opts.schema !== undefined ? { options: `-c search_path=${opts.schema}` } : {}),
  };
}

/**
 * Connects, migrates (one node at a time, under an advisory lock) and returns the store. Throws when the database
 * cannot be reached or its schema is newer than this build.
 */
export async function createPostgresStore(opts: PostgresStoreOptions): Promise<PostgresJobStore> {
  const config = pgClientConfig(opts);
  const migrator = new pg.Client(config);
  migrator.on('error', (err) => opts.logger?.warn({ err }, 'postgres migration connection error'));
  await migrator.connect();
  try {
    await migratePostgres(migrator, opts.schema);
  } finally {
    await migrator.end().catch(() => {});
  }
  const pool = new pg.Pool({ ...config, max: opts.max ?? 10 });
  // An idle pooled connection that breaks (server restart, network cut) emits 'error' on the pool; unhandled it
  // would crash the process. The pool drops that connection; the next query opens a new one or fails by itself.
  pool.on('error', (err) => {
    if (opts.logger) opts.logger.warn({ err }, 'postgres pool connection error (connection discarded)');
    else console.warn('postgres pool connection error (connection discarded):', err.message);
  });
  return new PostgresJobStore(pool, config, opts.logger);
}
