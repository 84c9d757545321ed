/**
 * PostgreSQL schema migrations. Each runs in its own transaction and is recorded in `schema_migrations`; all of them
 * run under one advisory lock, so when several nodes start at once one migrates and the others wait, then find
 * nothing left to do. Never edit a shipped migration: append a new one (databases in the field have run the old ones).
 *
 * The schema mirrors the SQLite one (src/service/store/migrations.ts) with PostgreSQL types:
 * - JobRecord timestamps and JSON documents (spec, error, columns) are TEXT: the record round-trips byte for byte
 *   (jsonb would reorder keys, timestamptz would reformat the strings). Only the lease expiry is a timestamptz,
 *   because it is compared with the database clock.
 * - Losses and elapsed times are float8, which round-trips every JS number exactly (PostgreSQL 12+ prints the
 *   shortest exact representation).
 * - No foreign keys: deleteJob removes a job's rows itself (as the SQLite store does), and every insert into epochs,
 *   checkpoints and resume_states is already fenced on the job row, so the per-row FK check would buy nothing.
 */
import type pg from 'pg';
import { detachInlineRows } from '../jobs/inline-rows.js';

export interface PgMigration {
  name: string;
  sql: string;
  /** A step that needs code, run after `sql` in the same transaction. */
  run?: (client: pg.ClientBase) => Promise<void>;
}

export const PG_MIGRATIONS: PgMigration[] = [
  {
    name: 'jobs queue, epochs, checkpoints, resume states, datasets, tenant dispatch',
    sql: `
    CREATE TABLE jobs (
      seq bigserial NOT NULL UNIQUE,        -- insertion order: the pagination key (a sequence: never reused)
      id text PRIMARY KEY,
      tenant text NOT NULL,
      name text,
      status text NOT NULL,
      spec text NOT NULL,
      epoch integer NOT NULL,
      epochs integer NOT NULL,
      last_loss double precision,
      created_at text NOT NULL,
      started_at text,
      finished_at text,
      updated_at text NOT NULL,
      error text,
      version integer NOT NULL,
      idempotency_key text,
      attempt integer NOT NULL DEFAULT 0,   -- bumped by every claim: the fencing token
      lease_owner text,
      lease_expires_at timestamptz,         -- database clock
      cancel_requested boolean NOT NULL DEFAULT false
    );
    CREATE INDEX jobs_tenant_seq ON jobs (tenant, seq);
    CREATE INDEX jobs_tenant_status_seq ON jobs (tenant, status, seq);
    -- Claims, countQueued, listRunning and listUnfinishedJobs only look at unfinished jobs, a small part of the table.
    CREATE INDEX jobs_unfinished ON jobs (status, seq) WHERE status IN ('queued', 'running');
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

    CREATE TABLE epochs (
      job_id text NOT NULL,
      epoch integer NOT NULL,
      loss double precision NOT NULL,
      val_loss double precision,
      elapsed_ms double precision NOT NULL,
      PRIMARY KEY (job_id, epoch)
    );

    CREATE TABLE checkpoints (
      job_id text NOT NULL,
      kind text NOT NULL,
      epoch integer NOT NULL,
      created_at text NOT NULL,
      bytes integer NOT NULL,
      data bytea NOT NULL,
      PRIMARY KEY (job_id, kind, epoch)
    );
    -- Safetensors are already dense float32: compression costs CPU and saves nothing.
    ALTER TABLE checkpoints ALTER COLUMN data SET STORAGE EXTERNAL;

    CREATE TABLE resume_states (
      job_id text PRIMARY KEY,
      epoch integer NOT NULL,
      created_at text NOT NULL,
      safetensors bytea NOT NULL,
      state bytea NOT NULL
    );
    ALTER TABLE resume_states ALTER COLUMN safetensors SET STORAGE EXTERNAL;
    ALTER TABLE resume_states ALTER COLUMN state SET STORAGE EXTERNAL;

    CREATE TABLE datasets (
      id text PRIMARY KEY,
      tenant text NOT NULL,
      name text,
      rows integer NOT NULL,
      input_dim integer NOT NULL,
      output_dim integer NOT NULL,
      columns text,
      created_at text NOT NULL,
      bytes integer NOT NULL,
      x bytea NOT NULL,       -- float64 little-endian matrices, as in the SQLite store
      y bytea NOT NULL
    );
    CREATE INDEX datasets_tenant ON datasets (tenant);

    -- Fair claims: the tenant served longest ago goes first among tenants with as few running jobs.
    CREATE SEQUENCE tenant_dispatch_served;
    CREATE TABLE tenant_dispatch (tenant text PRIMARY KEY, served bigint NOT NULL);
    `,
  },
  {
    name: 'secrets shared by the nodes',
    sql: `
    -- Keys every node must agree on, e.g. the stream-token HMAC key: a token one api node issues is checked by
    -- whichever node the browser's WebSocket reaches. Drawn by the first node that asks.
    CREATE TABLE shared_secrets (name text PRIMARY KEY, value bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    `,
  },
  {
    name: 'job details, webhook deliveries',
    sql: `
    -- What a run records beyond its status (JobDetails as JSON text), as SQLite migration 3.
    ALTER TABLE jobs ADD COLUMN details text;
    -- Webhook deliveries: at least once, retried with backoff; claimed with a short lease like jobs.
    CREATE TABLE webhook_deliveries (
      id text PRIMARY KEY,
      job_id text NOT NULL,
      tenant text NOT NULL,
      url text NOT NULL,
      event text NOT NULL,
      payload text NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at bigint NOT NULL,
      lease_until bigint,
      last_status_code integer,
      last_error text,
      created_at text NOT NULL,
      delivered_at text
    );
    CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, created_at);
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
    `,
  },
  {
    name: 'inline rows apart from the job spec (job_rows); webhook deliveries by tenant',
    sql: `
    CREATE TABLE job_rows (
      job_id text NOT NULL,
      part text NOT NULL,            -- 'data' | 'validation'
      tenant text NOT NULL,          -- for storage quotas without a join
      rows integer NOT NULL,
      input_dim integer NOT NULL,
      output_dim integer NOT NULL,
      bytes bigint NOT NULL,
      x bytea NOT NULL,
      y bytea NOT NULL,
      PRIMARY KEY (job_id, part)
    );
    CREATE INDEX job_rows_tenant ON job_rows (tenant);
    CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant);  -- storage quotas count deliveries
    `,
    // Jobs stored before: their rows move out of the spec, which keeps {kind: "inline", rows, sha256}.
    run: async (client) => {
      // Ids first, then one spec at a time: specs can be 16 MB each.
      const { rows: ids } = await client.query<{ id: string }>(
        `SELECT id FROM jobs
         WHERE spec::json #>> '{data,kind}' = 'inline' OR spec::json #>> '{training,validation,kind}' = 'inline'`,
      );
      for (const { id } of ids) {
        const { rows } = await client.query<{ id: string; tenant: string; spec: string }>('SELECT id, tenant, spec FROM jobs WHERE id = $1', [id]);
        const job = rows[0]!;
        const detached = detachInlineRows(JSON.parse(job.spec));
        for (const [part, r] of Object.entries(detached.rows)) {
          if (!r) continue;
          await client.query(
            `INSERT INTO job_rows (job_id, part, tenant, rows, input_dim, output_dim, bytes, x, y)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [job.id, part, job.tenant, r.rows, r.inputDim, r.outputDim, r.x.byteLength + r.y.byteLength, r.x, r.y],
          );
        }
        await client.query('UPDATE jobs SET spec = $1 WHERE id = $2', [JSON.stringify(detached.spec), job.id]);
      }
    },
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** A constant key ("gradloom" in ASCII): every node of every deployment on this database serialises its migrations. */
export const MIGRATION_LOCK_KEY = 0x677261646c6f6f6dn;

/**
 * Applies the missing migrations on one connection, under a session advisory lock held until the end. `schema`,
 * when given, is created first (also under the lock, so two nodes racing to create it do not collide).
 * Returns the versions this call applied (empty when another node had already migrated).
 */
export async function migratePostgres(client: pg.ClientBase, schema?: string): Promise<number[]> {
  const applied: number[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
  try {
    if (schema !== undefined) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET search_path TO ${schema}`);
    }
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > PG_MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this build understands (${PG_MIGRATIONS.length}); refusing to open it`,
      );
    }
    for (let v = current + 1; v <= PG_MIGRATIONS.length; v++) {
      const m = PG_MIGRATIONS[v - 1]!;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await m.run?.(client);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [v, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      applied.push(v);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
  }
  return applied;
}
