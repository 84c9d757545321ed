/**
 * The embedded JobStore: one SQLite file (better-sqlite3) in the data directory.
 *
 * Durability choices:
 * - WAL journal: readers never block the writer, and a crash at any point leaves either the old or the new
 *   transaction, never a torn one.
 * - `synchronous=NORMAL` by default: in WAL mode a commit is in the WAL file (the OS page cache) before the call
 *   returns, so a killed process (SIGKILL, OOM, crash) loses nothing it committed; only an OS crash or power loss
 *   can roll back the last few commits, and even then the database is consistent. FULL would fsync on every
 *   commit; the runtime commits an epoch batch per job every ~20 ms, and an fsync per batch would stall the event
 *   loop on slow disks. Operators who need power-loss durability of every acknowledged job can pass
 *   `synchronous: 'FULL'`.
 * - Every state change is one transaction (better-sqlite3 transactions are synchronous, so nothing interleaves).
 * - Checkpoints are BLOBs in the same database rather than files: a checkpoint and the job row that refers to it
 *   commit atomically, a crash cannot leave an orphan or a half-written file, deleting a job is one transaction,
 *   and backing up the service is copying one database. Model sizes are bounded by the service limits (tens of MB
 *   at most), well within what SQLite BLOBs handle.
 */
import Database from 'better-sqlite3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
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
import { insertJobRows, migrate } from './migrations.js';
import { dataDirError } from '../data-dir.js';
import { newWebhookDelivery } from '../webhooks/payload.js';
import { clipError, rowToDelivery, WEBHOOK_COLS, type WebhookDeliveryRow } from './webhook-rows.js';

export interface SqliteStoreOptions {
  dataDir: string;
  /** File name inside dataDir. */
  fileName?: string;
  synchronous?: 'NORMAL' | 'FULL';
}

interface JobRow extends JobRowFields {
  seq: number;
}

interface DatasetRow extends DatasetRowFields {
  x?: Buffer;
  y?: Buffer;
}

/** A Buffer view of the same bytes (no copy) for binding as a BLOB. */
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const toBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

export class SqliteJobStore implements JobStore {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  private closed = false;

  constructor(opts: SqliteStoreOptions) {
    mkdirSync(opts.dataDir, { recursive: true });
    this.db = new Database(join(opts.dataDir, opts.fileName ?? 'gradloom.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    // Another connection (a second process on the same dataDir, or a backup) waits instead of failing at once.
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
  }

  private readonly statements = new Map<string, Database.Statement>();

  /**
   * The prepared statement of this SQL text, made once: better-sqlite3 compiles the SQL at every `prepare`, which
   * cost more than most of these queries (~7 ms of the main thread per job in `npm run bench:service`). Handed out
   * in the default mode: a caller that plucks says so again (`.pluck()`), so a cached statement never carries one
   * call site's mode into another's.
   */
  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    } else if (s.reader) {
      s.pluck(false);
    }
    return s;
  }

  /** For tests and diagnostics. */
  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  async createJob(job: JobRecord, idempotencyKey?: string, rows: JobRows = {}): Promise<{ job: JobRecord; created: boolean }> {
    return this.db.transaction(() => {
      if (idempotencyKey !== undefined) {
        const existing = this.jobByKey(job.tenant, idempotencyKey);
        if (existing) return { job: existing, created: false };
      }
      this.stmt(
          `INSERT INTO jobs (id, tenant, name, status, spec, epoch, epochs, last_loss, created_at, started_at,
             finished_at, updated_at, error, version, idempotency_key, details)
           VALUES (@id, @tenant, @name, @status, @spec, @epoch, @epochs, @lastLoss, @createdAt, @startedAt,
             @finishedAt, @updatedAt, @error, @version, @key, @details)`,
        )
        .run({
          ...job,
          details: job.details ? JSON.stringify(job.details) : null,
          spec: JSON.stringify(job.spec),
          error: job.error === null ? null : JSON.stringify(job.error),
          key: idempotencyKey ?? null,
        });
      insertJobRows(this.db, job.id, job.tenant, rows);
      return { job: this.jobById(job.id)!, created: true };
    })();
  }

  private jobById(id: string): JobRecord | null {
    const row = this.stmt('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? rowToJob(row) : null;
  }

  private jobByKey(tenant: string, key: string): JobRecord | null {
    const row = this.stmt('SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?').get(tenant, key) as
      | JobRow
      | undefined;
    return row ? rowToJob(row) : null;
  }

  async findJobByIdempotencyKey(tenant: string, key: string): Promise<JobRecord | null> {
    return this.jobByKey(tenant, key);
  }

  async getJob(tenant: string, id: string): Promise<JobRecord | null> {
    const row = this.stmt('SELECT * FROM jobs WHERE tenant = ? AND id = ?').get(tenant, id) as JobRow | undefined;
    return row ? rowToJob(row) : null;
  }

  /**
   * Newest first, keyset-paginated on an insertion sequence number: a cursor names the last row seen, so jobs
   * created while a client pages never shift later pages (no skips, no repeats), unlike OFFSET.
   */
  async listJobs(query: ListJobsQuery): Promise<Page<JobRecord>> {
    const limit = Math.max(1, Math.floor(query.limit));
    let before = Number.MAX_SAFE_INTEGER;
    if (query.cursor !== undefined) {
      const seq = decodeCursor(query.cursor);
      // An unreadable cursor is treated as the end of the list rather than an error the routes must special-case.
      if (seq === null) return { items: [], nextCursor: null };
      before = Number(seq);
    }
    // Filters compose; each narrows the tenant's keyset scan (tags live in the stored spec).
    const where = ['tenant = @tenant', 'seq < @before'];
    if (query.status) where.push('status = @status');
    if (query.tag !== undefined) where.push(`EXISTS (SELECT 1 FROM json_each(spec, '$.tags') WHERE value = @tag)`);
    if (query.name !== undefined) where.push(`instr(lower(name), lower(@name)) > 0`);
    const rows = this.stmt(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT @limit`)
      .all({ tenant: query.tenant, before, status: query.status, tag: query.tag, name: query.name, limit: limit + 1 }) as JobRow[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { items: page.map(rowToJob), nextCursor: more ? encodeCursor(page[page.length - 1]!.seq) : null };
  }

  async listUnfinishedJobs(): Promise<JobRecord[]> {
    const rows = this.stmt(`SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq ASC`)
      .all() as JobRow[];
    return rows.map(rowToJob);
  }

  /**
   * The fence holds while the job's attempt is the claim's, it is running and its lease has not run out. Checked
   * inside each write's transaction, so a write either lands under a valid claim or not at all.
   */
  private assertFence(fence: Fence): void {
    const ok = this.stmt(`SELECT 1 FROM jobs WHERE id = ? AND attempt = ? AND status = 'running' AND lease_expires_at > ?`)
      .get(fence.jobId, fence.attempt, Date.now());
    if (!ok) throw new LeaseLostError(fence.jobId, fence.attempt);
  }

  async updateRun(fence: Fence, patch: RunPatch): Promise<JobRecord> {
    return this.db.transaction(() => {
      this.assertFence(fence);
      const current = this.jobById(fence.jobId)!;
      const next: JobRecord = { ...current, ...patch, version: current.version + 1, updatedAt: new Date().toISOString() };
      const endsClaim = next.status !== 'running';
      this.stmt(
          `UPDATE jobs SET status = @status, epoch = @epoch, last_loss = @lastLoss, started_at = @startedAt,
             finished_at = @finishedAt, updated_at = @updatedAt, error = @error, version = @version, details = @details,
             lease_owner = CASE WHEN @endsClaim THEN NULL ELSE lease_owner END,
             lease_expires_at = CASE WHEN @endsClaim THEN NULL ELSE lease_expires_at END
           WHERE id = @id`,
        )
        .run({
          id: fence.jobId,
          status: next.status,
          epoch: next.epoch,
          lastLoss: next.lastLoss,
          startedAt: next.startedAt,
          finishedAt: next.finishedAt,
          updatedAt: next.updatedAt,
          error: next.error === null ? null : JSON.stringify(next.error),
          version: next.version,
          details: next.details ? JSON.stringify(next.details) : null,
          endsClaim: endsClaim ? 1 : 0,
        });
      // A finished job never resumes: its crash-recovery snapshot is dead weight.
      if (TERMINAL_STATUSES.includes(next.status)) {
        this.stmt('DELETE FROM resume_states WHERE job_id = ?').run(fence.jobId);
        // At least once: the delivery commits with the status that it announces.
        this.insertWebhookDelivery(next, next.updatedAt);
      }
      return next;
    })();
  }

  /**
   * Fair order: the tenant with the fewest running jobs, then the tenant served longest ago (round-robin between
   * tenants), then the oldest job. Runnable: queued, or running with an expired lease (its worker is gone).
   */
  async claimNext(owner: string, leaseMs: number): Promise<Claim | null> {
    return this.db
      .transaction(() => {
        const now = Date.now();
        const row = this.stmt(
            `SELECT j.id FROM jobs j
               LEFT JOIN (SELECT tenant, COUNT(*) AS n FROM jobs WHERE status = 'running' AND lease_expires_at > @now
                          GROUP BY tenant) r ON r.tenant = j.tenant
               LEFT JOIN tenant_dispatch d ON d.tenant = j.tenant
             WHERE j.status = 'queued' OR (j.status = 'running' AND (j.lease_expires_at IS NULL OR j.lease_expires_at <= @now))
             ORDER BY COALESCE(r.n, 0), COALESCE(d.served, 0), j.seq
             LIMIT 1`,
          )
          .get({ now }) as { id: string } | undefined;
        if (!row) return null;
        const iso = new Date(now).toISOString();
        this.stmt(
            `UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_owner = ?, lease_expires_at = ?,
               started_at = COALESCE(started_at, ?), updated_at = ?, version = version + 1 WHERE id = ?`,
          )
          .run(owner, now + leaseMs, iso, iso, row.id);
        const job = this.jobById(row.id)!;
        this.stmt(
            `INSERT INTO tenant_dispatch (tenant, served) VALUES (?, (SELECT COALESCE(MAX(served), 0) + 1 FROM tenant_dispatch))
             ON CONFLICT (tenant) DO UPDATE SET served = excluded.served`,
          )
          .run(job.tenant);
        const attempt = (this.stmt('SELECT attempt FROM jobs WHERE id = ?').pluck().get(row.id) as number);
        return { job, fence: { jobId: row.id, attempt } };
      })
      .immediate();
  }

  async renewLease(fence: Fence, leaseMs: number): Promise<LeaseState> {
    const now = Date.now();
    const info = this.stmt(
        `UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND attempt = ? AND status = 'running' AND lease_expires_at > ?`,
      )
      .run(now + leaseMs, fence.jobId, fence.attempt, now);
    if (info.changes === 0) return { held: false, cancelRequested: false };
    const flag = this.stmt('SELECT cancel_requested FROM jobs WHERE id = ?').pluck().get(fence.jobId) as number;
    return { held: true, cancelRequested: flag === 1 };
  }

  async countQueued(): Promise<number> {
    return this.stmt(`SELECT COUNT(*) FROM jobs WHERE status = 'queued'`).pluck().get() as number;
  }

  async listRunning(limit: number): Promise<JobRecord[]> {
    const rows = this.stmt(`SELECT * FROM jobs WHERE status = 'running' ORDER BY seq LIMIT ?`)
      .all(limit) as JobRow[];
    return rows.map(rowToJob);
  }

  async requestCancel(tenant: string, id: string, now: string): Promise<{ job: JobRecord; cancelledNow: boolean } | null> {
    return this.db
      .transaction(() => {
        const job = this.stmt('SELECT * FROM jobs WHERE tenant = ? AND id = ?').get(tenant, id) as JobRow | undefined;
        if (!job) return null;
        if (job.status === 'queued') {
          this.stmt(
              `UPDATE jobs SET status = 'cancelled', finished_at = ?, updated_at = ?, version = version + 1,
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = ?`,
            )
            .run(now, now, id);
          this.stmt('DELETE FROM resume_states WHERE job_id = ?').run(id);
          const cancelled = this.jobById(id)!;
          this.insertWebhookDelivery(cancelled, now);
          return { job: cancelled, cancelledNow: true };
        }
        if (job.status === 'running') {
          this.stmt('UPDATE jobs SET cancel_requested = 1 WHERE id = ?').run(id);
        }
        return { job: rowToJob(job), cancelledNow: false };
      })
      .immediate();
  }

  /**
   * Embedded mode has one owner (the data directory lock): a job still 'running' at start belonged to a process that
   * is gone, so its lease is void and it is claimable at once instead of after the lease would have run out.
   */
  async expireAllLeases(): Promise<number> {
    return this.stmt(`UPDATE jobs SET lease_expires_at = NULL, lease_owner = NULL WHERE status = 'running'`)
      .run().changes;
  }

  private pings = 0;

  /**
   * A write, not only a read: a full or read-only disk still answers reads, and /readyz must say the store cannot
   * take the writes every job needs. The header field user_version is unused by gradloom (schema_version is).
   */
  async ping(): Promise<void> {
    this.pings = (this.pings + 1) % 1_000_000;
    this.db.pragma(`user_version = ${this.pings}`);
  }

  async getJobRows(jobId: string, part: RowsPart, offset = 0, limit?: number): Promise<{ total: number; rows: PackedRows } | null> {
    const head = this.stmt('SELECT rows, input_dim, output_dim FROM job_rows WHERE job_id = ? AND part = ?')
      .get(jobId, part) as { rows: number; input_dim: number; output_dim: number } | undefined;
    if (!head) return null;
    const from = Math.min(Math.max(0, offset), head.rows);
    const count = Math.min(head.rows - from, limit ?? head.rows);
    // substr on a BLOB counts bytes (1-based): only the rows asked for leave the database.
    const slice = this.stmt('SELECT substr(x, ?, ?) AS x, substr(y, ?, ?) AS y FROM job_rows WHERE job_id = ? AND part = ?')
      .get(from * head.input_dim * 8 + 1, count * head.input_dim * 8, from * head.output_dim * 8 + 1, count * head.output_dim * 8, jobId, part) as
      | { x: Buffer | null; y: Buffer | null }
      | undefined;
    if (!slice) return null;
    return {
      total: head.rows,
      rows: {
        rows: count,
        inputDim: head.input_dim,
        outputDim: head.output_dim,
        x: slice.x ?? new Uint8Array(0),
        y: slice.y ?? new Uint8Array(0),
      },
    };
  }

  async deleteJob(tenant: string, id: string): Promise<boolean> {
    return this.db.transaction(() => {
      const info = this.stmt('DELETE FROM jobs WHERE tenant = ? AND id = ?').run(tenant, id);
      if (info.changes === 0) return false;
      // Explicit rather than ON DELETE CASCADE so that databases created before foreign keys were enabled behave.
      this.stmt('DELETE FROM job_rows WHERE job_id = ?').run(id);
      this.stmt('DELETE FROM epochs WHERE job_id = ?').run(id);
      this.stmt('DELETE FROM checkpoints WHERE job_id = ?').run(id);
      this.stmt('DELETE FROM resume_states WHERE job_id = ?').run(id);
      this.stmt('DELETE FROM webhook_deliveries WHERE job_id = ?').run(id);
      return true;
    })();
  }

  /**
   * One transaction per batch, which also moves the job's `epoch`/`lastLoss` to the batch's last event, so the job
   * row and its history never disagree after a crash. INSERT OR REPLACE: a job resumed from a snapshot at epoch k
   * re-runs the epochs after k deterministically, so re-appending them must not fail (and yields the same values).
   */
  async appendEpochs(fence: Fence, events: EpochEvent[]): Promise<void> {
    if (events.length === 0) return;
    checkFiniteLosses(events);
    const insert = this.stmt(
      'INSERT OR REPLACE INTO epochs (job_id, epoch, loss, val_loss, elapsed_ms) VALUES (?, ?, ?, ?, ?)',
    );
    const last = events[events.length - 1]!;
    this.db.transaction(() => {
      this.assertFence(fence);
      for (const e of events) insert.run(fence.jobId, e.epoch, e.loss, e.valLoss ?? null, e.elapsedMs);
      this.stmt('UPDATE jobs SET epoch = ?, last_loss = ?, updated_at = ?, version = version + 1 WHERE id = ?')
        .run(last.epoch, last.loss, new Date().toISOString(), fence.jobId);
    })();
  }

  async getEpochs(jobId: string, fromEpoch = 1, limit?: number): Promise<EpochEvent[]> {
    const rows = this.stmt('SELECT epoch, loss, val_loss, elapsed_ms FROM epochs WHERE job_id = ? AND epoch >= ? ORDER BY epoch LIMIT ?')
      .raw(true)
      .all(jobId, fromEpoch, limit ?? -1) as [number, number, number | null, number][];
    const out: EpochEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = r[2] === null ? { epoch: r[0], loss: r[1], elapsedMs: r[3] } : { epoch: r[0], loss: r[1], valLoss: r[2], elapsedMs: r[3] };
    }
    return out;
  }

  async putCheckpoint(
    fence: Fence,
    info: CheckpointInfo,
    safetensors: Uint8Array,
    resumeState?: Uint8Array,
  ): Promise<void> {
    const jobId = fence.jobId;
    this.db.transaction(() => {
      this.assertFence(fence);
      this.stmt(
          `INSERT OR REPLACE INTO checkpoints (job_id, kind, epoch, created_at, bytes, data) VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(jobId, info.kind, info.epoch, info.createdAt, safetensors.byteLength, asBuffer(safetensors));
      if (resumeState) this.writeResume(jobId, info.epoch, safetensors, resumeState);
    })();
  }

  private writeResume(jobId: string, epoch: number, safetensors: Uint8Array, resumeState: Uint8Array): void {
    this.stmt(
        `INSERT OR REPLACE INTO resume_states (job_id, epoch, created_at, safetensors, state) VALUES (?, ?, ?, ?, ?)`,
      )
      .run(jobId, epoch, new Date().toISOString(), asBuffer(safetensors), asBuffer(resumeState));
  }

  async putResumeState(fence: Fence, epoch: number, safetensors: Uint8Array, resumeState: Uint8Array): Promise<void> {
    this.db.transaction(() => {
      this.assertFence(fence);
      this.writeResume(fence.jobId, epoch, safetensors, resumeState);
    })();
  }

  async listCheckpoints(jobId: string): Promise<CheckpointInfo[]> {
    const rows = this.stmt(`SELECT kind, epoch, created_at, bytes FROM checkpoints WHERE job_id = ? ORDER BY epoch, kind DESC`)
      .all(jobId) as { kind: 'final' | 'periodic'; epoch: number; created_at: string; bytes: number }[];
    return rows.map((r) => ({ kind: r.kind, epoch: r.epoch, createdAt: r.created_at, bytes: r.bytes }));
  }

  async getCheckpoint(
    jobId: string,
    epoch?: number,
  ): Promise<{ info: CheckpointInfo; safetensors: Uint8Array } | null> {
    type Row = { kind: 'final' | 'periodic'; epoch: number; created_at: string; bytes: number };
    // Choose the row without touching BLOBs (sorting rows with their data would read every checkpoint), then
    // read that one checkpoint's bytes.
    const row = (
      epoch === undefined
        ? this.stmt(
              `SELECT kind, epoch, created_at, bytes FROM checkpoints WHERE job_id = ?
               ORDER BY CASE kind WHEN 'final' THEN 0 ELSE 1 END, epoch DESC LIMIT 1`,
            )
            .get(jobId)
        : this.stmt(
              `SELECT kind, epoch, created_at, bytes FROM checkpoints WHERE job_id = ? AND epoch = ?
               ORDER BY CASE kind WHEN 'final' THEN 0 ELSE 1 END LIMIT 1`,
            )
            .get(jobId, epoch)
    ) as Row | undefined;
    if (!row) return null;
    const data = this.stmt('SELECT data FROM checkpoints WHERE job_id = ? AND kind = ? AND epoch = ?')
      .pluck()
      .get(jobId, row.kind, row.epoch) as Buffer;
    return {
      info: { kind: row.kind, epoch: row.epoch, createdAt: row.created_at, bytes: row.bytes },
      safetensors: toBytes(data),
    };
  }

  async getResumeState(
    jobId: string,
  ): Promise<{ epoch: number; safetensors: Uint8Array; resumeState: Uint8Array } | null> {
    const row = this.stmt('SELECT epoch, safetensors, state FROM resume_states WHERE job_id = ?').get(jobId) as
      | { epoch: number; safetensors: Buffer; state: Buffer }
      | undefined;
    if (!row) return null;
    return { epoch: row.epoch, safetensors: toBytes(row.safetensors), resumeState: toBytes(row.state) };
  }

  async createDataset(dataset: Dataset): Promise<DatasetRecord> {
    const x = packMatrix(dataset.x, dataset.inputDim);
    const y = packMatrix(dataset.y, dataset.outputDim);
    const bytes = dataset.bytes > 0 ? dataset.bytes : x.byteLength + y.byteLength;
    this.stmt(
        `INSERT INTO datasets (id, tenant, name, rows, input_dim, output_dim, columns, created_at, bytes, x, y)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        dataset.id,
        dataset.tenant,
        dataset.name,
        dataset.rows,
        dataset.inputDim,
        dataset.outputDim,
        dataset.columns === null ? null : JSON.stringify(dataset.columns),
        dataset.createdAt,
        bytes,
        x,
        y,
      );
    return (await this.getDatasetRecord(dataset.tenant, dataset.id))!;
  }

  async getDataset(tenant: string, id: string): Promise<{ record: DatasetRecord; rows: PackedRows } | null> {
    const row = this.stmt('SELECT * FROM datasets WHERE tenant = ? AND id = ?').get(tenant, id) as
      | DatasetRow
      | undefined;
    return row ? datasetRows(row) : null;
  }

  async getDatasetRecord(tenant: string, id: string): Promise<DatasetRecord | null> {
    const row = this.stmt(
        `SELECT id, tenant, name, rows, input_dim, output_dim, columns, created_at, bytes
         FROM datasets WHERE tenant = ? AND id = ?`,
      )
      .get(tenant, id) as DatasetRow | undefined;
    return row ? rowToDatasetRecord(row) : null;
  }

  async deleteDataset(tenant: string, id: string): Promise<boolean> {
    return this.stmt('DELETE FROM datasets WHERE tenant = ? AND id = ?').run(tenant, id).changes > 0;
  }

  async tenantUsage(tenant: string): Promise<{ bytes: number; queued: number; running: number }> {
    const q = (sql: string): number => Number((this.stmt(sql).get(tenant) as { v: number | null }).v ?? 0);
    const jobBytes = q('SELECT SUM(LENGTH(spec) + 200) AS v FROM jobs WHERE tenant = ?');
    // A job has `epoch` history rows; 24 bytes a row is SQLite's approximate on-disk cost (three numbers and the
    // key). Summing the job rows instead of counting history rows keeps this cheap for quota checks per request.
    const epochBytes = q('SELECT SUM(epoch) * 24 AS v FROM jobs WHERE tenant = ?');
    const ckptBytes = q('SELECT SUM(c.bytes) AS v FROM checkpoints c JOIN jobs j ON j.id = c.job_id WHERE j.tenant = ?');
    const resumeBytes = q(
      `SELECT SUM(LENGTH(r.safetensors) + LENGTH(r.state)) AS v FROM resume_states r JOIN jobs j ON j.id = r.job_id
       WHERE j.tenant = ?`,
    );
    const dsBytes = q('SELECT SUM(bytes) AS v FROM datasets WHERE tenant = ?');
    const rowsBytes = q('SELECT SUM(bytes) AS v FROM job_rows WHERE tenant = ?');
    const hookBytes = q('SELECT SUM(LENGTH(payload) + 200) AS v FROM webhook_deliveries WHERE tenant = ?');
    return {
      bytes: jobBytes + epochBytes + ckptBytes + resumeBytes + dsBytes + rowsBytes + hookBytes,
      queued: q(`SELECT COUNT(*) AS v FROM jobs WHERE tenant = ? AND status = 'queued'`),
      running: q(`SELECT COUNT(*) AS v FROM jobs WHERE tenant = ? AND status = 'running'`),
    };
  }

  /** Inside the transaction that wrote the job's terminal status: its webhook delivery, when the spec names one. */
  private insertWebhookDelivery(job: JobRecord, createdAt: string): void {
    const d = newWebhookDelivery(job, randomUUID(), createdAt);
    if (!d) return;
    this.stmt(
        `INSERT INTO webhook_deliveries (id, job_id, tenant, url, event, payload, status, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
      )
      .run(d.id, d.jobId, d.tenant, d.url, d.event, d.payload, Date.now(), d.createdAt);
  }

  async claimWebhookDeliveries(limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
    const now = Date.now();
    const rows = this.stmt(
        `UPDATE webhook_deliveries SET lease_until = @until, attempts = attempts + 1
         WHERE id IN (SELECT id FROM webhook_deliveries
                      WHERE status = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
                      ORDER BY next_attempt_at LIMIT @limit)
         RETURNING ${WEBHOOK_COLS}`,
      )
      .all({ now, until: now + leaseMs, limit: Math.max(0, Math.floor(limit)) }) as WebhookDeliveryRow[];
    return rows.map(rowToDelivery).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt);
  }

  async recordWebhookAttempt(id: string, attempt: number, outcome: WebhookAttemptOutcome): Promise<boolean> {
    const now = Date.now();
    const retry = !outcome.delivered && outcome.retryInMs !== undefined;
    const info = this.stmt(
        `UPDATE webhook_deliveries SET status = @status, last_status_code = @code, last_error = @error,
           delivered_at = @deliveredAt, next_attempt_at = @next, lease_until = NULL
         WHERE id = @id AND attempts = @attempt AND status = 'pending'`,
      )
      .run({
        id,
        attempt,
        status: outcome.delivered ? 'delivered' : retry ? 'pending' : 'failed',
        code: outcome.statusCode,
        error: outcome.delivered ? null : clipError(outcome.error),
        deliveredAt: outcome.delivered ? new Date(now).toISOString() : null,
        next: retry ? now + Math.max(0, outcome.retryInMs!) : now,
      });
    return info.changes > 0;
  }

  async listWebhookDeliveries(tenant: string, jobId: string): Promise<WebhookDelivery[]> {
    const rows = this.stmt(`SELECT ${WEBHOOK_COLS} FROM webhook_deliveries WHERE tenant = ? AND job_id = ? ORDER BY created_at, id`)
      .all(tenant, jobId) as WebhookDeliveryRow[];
    return rows.map(rowToDelivery);
  }

  async sharedSecret(name: string): Promise<Buffer> {
    this.stmt('INSERT OR IGNORE INTO shared_secrets (name, value, created_at) VALUES (?, ?, ?)')
      .run(name, randomBytes(32), new Date().toISOString());
    return this.stmt('SELECT value FROM shared_secrets WHERE name = ?').pluck().get(name) as Buffer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

export function createSqliteStore(opts: SqliteStoreOptions): JobStore {
  try {
    return new SqliteJobStore(opts);
  } catch (err) {
    // SQLite's "unable to open database file" names neither the path nor the cause.
    throw dataDirError(opts.dataDir, join(opts.dataDir, opts.fileName ?? 'gradloom.db'), err);
  }
}
