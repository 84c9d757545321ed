/**
 * Schema migrations, applied in order inside one transaction each; `schema_version` records the last one applied.
 * Never edit a shipped migration: append a new one (databases in the field have already run the old ones).
 */
import type Database from 'better-sqlite3';
import { detachInlineRows } from '../jobs/inline-rows.js';
import type { JobRows } from '../jobs/types.js';

/** SQL, or a step that needs code (it runs inside the migration's transaction too). */
type Migration = string | ((db: Database.Database) => void);

const MIGRATIONS: Migration[] = [
  // 1: jobs, their loss history, checkpoints, crash-recovery snapshots and datasets.
  `
  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: the pagination key (AUTOINCREMENT: never reused)
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    last_loss REAL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    error TEXT,
    version INTEGER NOT NULL,
    idempotency_key TEXT
  );
  CREATE INDEX jobs_tenant_seq ON jobs (tenant, seq);
  CREATE INDEX jobs_tenant_status_seq ON jobs (tenant, status, seq);
  CREATE INDEX jobs_status ON jobs (status);
  CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

  CREATE TABLE epochs (
    job_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL NOT NULL,
    elapsed_ms REAL NOT NULL,
    PRIMARY KEY (job_id, epoch)
  ) WITHOUT ROWID;

  CREATE TABLE checkpoints (
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job_id, kind, epoch)
  );

  CREATE TABLE resume_states (
    job_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    safetensors BLOB NOT NULL,
    state BLOB NOT NULL
  );

  CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT,
    rows INTEGER NOT NULL,
    input_dim INTEGER NOT NULL,
    output_dim INTEGER NOT NULL,
    columns TEXT,
    created_at TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    x BLOB NOT NULL,
    y BLOB NOT NULL
  );
  CREATE INDEX datasets_tenant ON datasets (tenant);
  `,
  // 2: the jobs table is the queue: claims carry an attempt number (the fencing token) and a lease; cancel is a
  // flag the running worker reads; tenant_dispatch orders tenants for fair claims; epochs may carry a validation loss.
  `
  ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
  ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
  ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE tenant_dispatch (tenant TEXT PRIMARY KEY, served INTEGER NOT NULL);
  ALTER TABLE epochs ADD COLUMN val_loss REAL;
  `,
  // 3: what a run records beyond its status (JobDetails as JSON), and webhook deliveries (at least once, retried).
  `
  ALTER TABLE jobs ADD COLUMN details TEXT;
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
  );
  CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, created_at);
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
  `,
  // 4: keys drawn once and kept (the webhook signing key when WEBHOOK_SECRET is unset), as PostgreSQL's shared_secrets.
  `
  CREATE TABLE shared_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL, created_at TEXT NOT NULL);
  `,
  // 5: inline rows move out of the stored spec into job_rows (the spec keeps {kind: "inline", rows, sha256});
  // webhook deliveries by tenant, for storage quotas.
  (db) => {
    db.exec(`
      CREATE TABLE job_rows (
        job_id TEXT NOT NULL,
        part TEXT NOT NULL,            -- 'data' | 'validation'
        tenant TEXT NOT NULL,          -- for storage quotas without a join
        rows INTEGER NOT NULL,
        input_dim INTEGER NOT NULL,
        output_dim INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        x BLOB NOT NULL,
        y BLOB NOT NULL,
        PRIMARY KEY (job_id, part)
      );
      CREATE INDEX job_rows_tenant ON job_rows (tenant);
      CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant);  -- storage quotas count deliveries
    `);
    const rewrite = db.prepare('UPDATE jobs SET spec = ? WHERE id = ?');
    const read = db.prepare('SELECT tenant, spec FROM jobs WHERE id = ?');
    // Ids first, then one spec at a time: a connection cannot write while it iterates, and specs can be 16 MB each.
    const ids = db
      .prepare(
        `SELECT id FROM jobs
         WHERE json_extract(spec, '$.data.kind') = 'inline' OR json_extract(spec, '$.training.validation.kind') = 'inline'`,
      )
      .pluck()
      .all() as string[];
    for (const id of ids) {
      const row = { id, ...(read.get(id) as { tenant: string; spec: string }) };
      const { spec, rows } = detachInlineRows(JSON.parse(row.spec));
      insertJobRows(db, row.id, row.tenant, rows);
      rewrite.run(JSON.stringify(spec), row.id);
    }
  },
];

const blob = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** A job's inline rows into job_rows (used by createJob and by migration 5). */
export function insertJobRows(db: Database.Database, jobId: string, tenant: string, rows: JobRows): void {
  const insert = db.prepare(
    `INSERT INTO job_rows (job_id, part, tenant, rows, input_dim, output_dim, bytes, x, y)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const [part, r] of Object.entries(rows)) {
    if (!r) continue;
    const bytes = r.x.byteLength + r.y.byteLength;
    insert.run(jobId, part, tenant, r.rows, r.inputDim, r.outputDim, bytes, blob(r.x), blob(r.y));
  }
}

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  let current = row?.version ?? 0;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${current} is newer than this build understands (${MIGRATIONS.length}); refusing to open it`,
    );
  }
  if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
  while (current < MIGRATIONS.length) {
    const step = MIGRATIONS[current]!;
    const next = current + 1;
    db.transaction(() => {
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.prepare('UPDATE schema_version SET version = ?').run(next);
    })();
    current = next;
  }
}
