/**
 * The store's costs, SQLite vs PostgreSQL: `npx tsx bench/store.ts` (PostgreSQL when DATABASE_URL is set; the
 * tables go to a schema of their own, dropped at the end).
 *
 * 1. Timings of the operations a job and its readers make: submit (createJob) x N, claim x N, append 500 epochs in
 *    batches of 10, list 100 jobs, write and read a 404 KB checkpoint. Medians of repeated runs, in ms.
 * 2. What one tutorial job costs PostgreSQL (the "past this machine, on paper"): the writes of a run as the
 *    runtime makes them (submit + 'jobs' notify, claim, 500 epochs flushed in 10 batches each with an 'epochs'
 *    notify, one resume snapshot, the final 404 KB checkpoint with its resume state, the terminal status + 'status'
 *    notify), counted in statements, rows (pg_stat_user_tables), WAL bytes and table bytes, averaged over JOBS jobs.
 *
 * Every PostgreSQL write commits with the server's synchronous_commit (on by default): a WAL flush (fdatasync) per
 * write, where SQLite's default (WAL, synchronous=NORMAL) syncs only at checkpoints. That flush, not the SQL, is most
 * of a PostgreSQL write's time on a slow disk.
 *
 * Environment: BENCH_N (submits, default 200), BENCH_JOBS (jobs for the cost figures, default 20).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createSqliteStore } from '../src/service/store/sqlite.js';
import { createPostgresStore, type PostgresJobStore } from '../src/service/store/postgres.js';
import { createPgBus, type PgBus } from '../src/service/store/pg-bus.js';
import { newJobRecord } from '../src/service/jobs/records.js';
import type { Claim, EpochEvent, Fence, JobRecord, JobStore } from '../src/service/jobs/types.js';
import type { StoredJobSpec } from '../src/spec/job-spec.js';

const N = Number(process.env.BENCH_N ?? 200);
const JOBS = Number(process.env.BENCH_JOBS ?? 20);
const DATABASE_URL = process.env.DATABASE_URL;
const CHECKPOINT_BYTES = 404_040; // the tutorial's two-layer net: 101,000 float32 weights plus the safetensors header
const RESUME_STATE_BYTES = 1_000; // SGD without momentum: the optimizer state is a header and a few counters

const spec = {
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: { kind: 'random', n: 4 },
  training: { epochs: 500, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false } },
  seed: 1,
} as StoredJobSpec;
let counter = 0;
const record = (tenant: string): JobRecord =>
  newJobRecord({ id: `bench-${++counter}-${randomBytes(4).toString('hex')}`, tenant, spec, seed: 1, now: new Date().toISOString() });
const epochs = (from: number, n: number): EpochEvent[] =>
  Array.from({ length: n }, (_, i) => ({ epoch: from + i, loss: Math.random(), elapsedMs: (from + i) * 0.4 }));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

type Row = Record<string, number>;

async function timings(store: JobStore): Promise<Row> {
  const out: Row = {};
  const pings: number[] = [];
  for (let i = 0; i < 200; i++) pings.push(await time(() => store.ping()));
  // The floor under every PostgreSQL figure: one round trip to the server (SQLite: a call into the library).
  out['round trip (ping: SELECT 1), ms'] = median(pings);
  const submits: number[] = [];
  for (let i = 0; i < N; i++) submits.push(await time(() => store.createJob(record(`t${i % 4}`))));
  out['submit (createJob), ms/op'] = median(submits);
  const claims: number[] = [];
  const fences: Fence[] = [];
  for (let i = 0; i < N; i++) {
    let claim: Claim | null = null;
    claims.push(await time(async () => (claim = await store.claimNext('bench', 600_000))));
    fences.push(claim!.fence);
  }
  out['claim (claimNext), ms/op'] = median(claims);
  const appends: number[] = [];
  for (let r = 0; r < 5; r++) {
    const fence = fences[r]!;
    appends.push(
      await time(async () => {
        for (let b = 0; b < 50; b++) await store.appendEpochs(fence, epochs(b * 10 + 1, 10));
      }),
    );
  }
  out['append 500 epochs in 50 batches of 10, ms'] = median(appends);
  const appendsTutorial: number[] = [];
  for (let r = 5; r < 10; r++) {
    const fence = fences[r]!;
    appendsTutorial.push(
      await time(async () => {
        for (let b = 0; b < 10; b++) await store.appendEpochs(fence, epochs(b * 50 + 1, 50));
      }),
    );
  }
  out['append 500 epochs in 10 batches of 50, ms'] = median(appendsTutorial);
  const reads: number[] = [];
  for (let r = 0; r < 20; r++) reads.push(await time(() => store.getEpochs(fences[0]!.jobId)));
  out['read 500 epochs (getEpochs), ms'] = median(reads);
  const lists: number[] = [];
  for (let r = 0; r < 20; r++) lists.push(await time(() => store.listJobs({ tenant: 't0', limit: 100 })));
  out['list 100 jobs (listJobs), ms'] = median(lists);
  const weights = new Uint8Array(randomBytes(CHECKPOINT_BYTES));
  const writes: number[] = [];
  for (let r = 0; r < 10; r++) {
    writes.push(
      await time(() =>
        store.putCheckpoint(fences[20 + r]!, { epoch: 500, kind: 'final', createdAt: 't', bytes: CHECKPOINT_BYTES }, weights),
      ),
    );
  }
  out['write a 404 KB checkpoint, ms'] = median(writes);
  const ckptReads: number[] = [];
  for (let r = 0; r < 20; r++) ckptReads.push(await time(() => store.getCheckpoint(fences[20 + (r % 10)]!.jobId)));
  out['read a 404 KB checkpoint, ms'] = median(ckptReads);
  return out;
}

/**
 * One tutorial job's store and bus calls, as the runtime makes them: submit, claim (whichever job is next: with
 * several of these running at once it may be another's), 10 flushed batches of 50 epochs, a resume snapshot halfway,
 * the final checkpoint with its resume state, the terminal status.
 */
async function tutorialJob(store: PostgresJobStore, bus: PgBus, weights: Uint8Array, state: Uint8Array): Promise<void> {
  await store.createJob(record('tutorial'));
  bus.publish({ kind: 'jobs' });
  const claim = await store.claimNext('bench', 60_000);
  if (!claim) throw new Error('bench: nothing to claim right after a submit');
  const jobId = claim.job.id;
  for (let b = 0; b < 10; b++) {
    await store.appendEpochs(claim.fence, epochs(b * 50 + 1, 50));
    bus.publish({ kind: 'epochs', jobId, from: b * 50 + 1, to: b * 50 + 50 });
    if (b === 4) await store.putResumeState(claim.fence, 250, weights, state);
  }
  await store.putCheckpoint(claim.fence, { epoch: 500, kind: 'final', createdAt: 't', bytes: CHECKPOINT_BYTES }, weights, state);
  await store.updateRun(claim.fence, { status: 'succeeded', finishedAt: new Date().toISOString() });
  bus.publish({ kind: 'status', jobId });
}

/** Tutorial jobs' store work per second with `concurrency` simulated workers on one pool (no training). */
async function throughput(open: () => Promise<PostgresJobStore>, schema: string, concurrency: number): Promise<number> {
  const store = await open();
  const bus = await createPgBus({ pool: store.pool, listenConfig: store.clientConfig, channel: `${schema}_bus` });
  const weights = new Uint8Array(randomBytes(CHECKPOINT_BYTES));
  const state = new Uint8Array(randomBytes(RESUME_STATE_BYTES));
  const perWorker = Math.max(1, Math.round((JOBS * 2) / concurrency));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let j = 0; j < perWorker; j++) await tutorialJob(store, bus, weights, state);
    }),
  );
  const jobsPerSecond = (perWorker * concurrency) / ((performance.now() - t0) / 1000);
  await bus.close();
  await store.close();
  return jobsPerSecond;
}

/** What one tutorial job's run costs PostgreSQL, averaged over JOBS jobs. */
async function perJobCost(open: () => Promise<PostgresJobStore>, admin: pg.Pool, schema: string): Promise<Row> {
  const tables = ['jobs', 'epochs', 'checkpoints', 'resume_states', 'tenant_dispatch'];
  // Backends report their table counters when they exit (or lazily, up to 10 s later, when idle): every snapshot is
  // taken with the measured store's connections closed.
  const snapshot = async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const client = await admin.connect();
    try {
      await client.query('SELECT pg_stat_clear_snapshot()');
      const stats = await client.query<{ ins: string; upd: string; del: string }>(
        `SELECT sum(n_tup_ins) AS ins, sum(n_tup_upd) AS upd, sum(n_tup_del) AS del FROM pg_stat_user_tables
         WHERE schemaname = $1 AND relname = ANY($2)`,
        [schema, tables],
      );
      const size = await client.query<{ t: string; bytes: string }>(
        `SELECT t, pg_total_relation_size(format('%I.%I', $1::text, t)) AS bytes FROM unnest($2::text[]) AS t`,
        [schema, tables],
      );
      const wal = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const bytes = Object.fromEntries(size.rows.map((r) => [r.t, Number(r.bytes)]));
      return {
        ins: Number(stats.rows[0]!.ins), upd: Number(stats.rows[0]!.upd), del: Number(stats.rows[0]!.del),
        bytes, lsn: wal.rows[0]!.lsn,
      };
    } finally {
      client.release();
    }
  };
  const weights = new Uint8Array(randomBytes(CHECKPOINT_BYTES));
  const state = new Uint8Array(randomBytes(RESUME_STATE_BYTES));
  const before = await snapshot();
  const store = await open();
  const bus = await createPgBus({ pool: store.pool, listenConfig: store.clientConfig, channel: `${schema}_bus` });
  const statements0 = store.statements; // the migration check is not the job's
  const t0 = performance.now();
  for (let j = 0; j < JOBS; j++) await tutorialJob(store, bus, weights, state);
  const wallMs = performance.now() - t0;
  await bus.close();
  await store.close();
  const after = await snapshot();
  const grown = (t: string) => Math.round((after.bytes[t]! - before.bytes[t]!) / JOBS);
  const walBytes = Number(
    (await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2) AS d', [after.lsn, before.lsn])).rows[0]!.d,
  );
  return {
    'store statements (round trips)': (store.statements - statements0) / JOBS,
    'NOTIFYs': bus.notifies / JOBS,
    'statements carrying NOTIFYs': bus.notifyStatements / JOBS,
    'rows inserted': (after.ins - before.ins) / JOBS,
    'rows updated': (after.upd - before.upd) / JOBS,
    'rows deleted': (after.del - before.del) / JOBS,
    'WAL bytes': Math.round(walBytes / JOBS),
    'table growth, epochs (heap + index)': grown('epochs'),
    'table growth, checkpoints (heap + TOAST + index)': grown('checkpoints'),
    'table growth, resume_states (dead until vacuumed)': grown('resume_states'),
    'table growth, jobs': grown('jobs'),
    'wall ms of the store + bus calls, one job after another': Math.round((wallMs / JOBS) * 10) / 10,
  };
}

/** The server's commit cost: how much of a write is the WAL flush (the disk), not the SQL. */
async function commitCost(admin: pg.Pool, schema: string): Promise<Row> {
  const client = await admin.connect();
  try {
    await client.query(`CREATE TABLE ${schema}.commit_probe (a integer)`);
    const run = async () => {
      const xs: number[] = [];
      for (let i = 0; i < 200; i++) xs.push(await time(() => client.query(`INSERT INTO ${schema}.commit_probe VALUES (1)`)));
      return median(xs);
    };
    const flushed = await run();
    await client.query('SET synchronous_commit = off');
    const unflushed = await run();
    await client.query('RESET synchronous_commit');
    return {
      'one-row INSERT, committed with a WAL flush (synchronous_commit=on, the default), ms': flushed,
      'the same with synchronous_commit=off (no flush; NOT what the store uses), ms': unflushed,
    };
  } finally {
    client.release();
  }
}

/**
 * The first thing to change when epochs dominate: one row per epoch (today) against one row per flushed batch
 * (arrays of 50), the same 500 epochs per job in 10 statements either way. WAL and table bytes per job.
 */
async function epochLayouts(admin: pg.Pool, schema: string): Promise<Row> {
  await admin.query(
    `CREATE TABLE ${schema}.epoch_batches (job_id text NOT NULL, first_epoch integer NOT NULL, loss float8[] NOT NULL,
       val_loss float8[], elapsed_ms float8[] NOT NULL, PRIMARY KEY (job_id, first_epoch))`,
  );
  const measure = async (table: string, write: (jobId: string, batch: EpochEvent[]) => Promise<unknown>) => {
    const lsn = async () => (await admin.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
    const size = async () =>
      Number((await admin.query<{ b: string }>(`SELECT pg_total_relation_size('${schema}.${table}') AS b`)).rows[0]!.b);
    const [l0, b0] = [await lsn(), await size()];
    for (let j = 0; j < JOBS; j++) {
      const jobId = `layout-${randomBytes(8).toString('hex')}`;
      for (let b = 0; b < 10; b++) await write(jobId, epochs(b * 50 + 1, 50));
    }
    const [l1, b1] = [await lsn(), await size()];
    const wal = Number((await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2) AS d', [l1, l0])).rows[0]!.d);
    return { wal: Math.round(wal / JOBS), bytes: Math.round((b1 - b0) / JOBS) };
  };
  const perRow = await measure('epochs', (jobId, batch) =>
    admin.query(
      `INSERT INTO ${schema}.epochs (job_id, epoch, loss, val_loss, elapsed_ms)
       SELECT $1, * FROM unnest($2::int[], $3::float8[], $4::float8[], $5::float8[])`,
      [jobId, batch.map((e) => e.epoch), batch.map((e) => e.loss), batch.map(() => null), batch.map((e) => e.elapsedMs)],
    ),
  );
  const perBatch = await measure('epoch_batches', (jobId, batch) =>
    admin.query(`INSERT INTO ${schema}.epoch_batches VALUES ($1, $2, $3::float8[], NULL, $4::float8[])`, [
      jobId,
      batch[0]!.epoch,
      batch.map((e) => e.loss),
      batch.map((e) => e.elapsedMs),
    ]),
  );
  return {
    'one row per epoch: WAL bytes per job': perRow.wal,
    'one row per epoch: table + index bytes per job': perRow.bytes,
    'one row per batch of 50: WAL bytes per job': perBatch.wal,
    'one row per batch of 50: table + index bytes per job': perBatch.bytes,
  };
}

const fmt = (x: number | undefined): string => (x === undefined ? '-' : x < 10 ? x.toFixed(3) : x < 1000 ? x.toFixed(1) : String(Math.round(x)));

const dir = mkdtempSync(join(os.tmpdir(), 'gradloom-bench-store-'));
const sqlite = createSqliteStore({ dataDir: dir });
const results: { sqlite: Row; postgres?: Row } = { sqlite: await timings(sqlite) };
await sqlite.close();
rmSync(dir, { recursive: true, force: true });

let cost: Row | undefined;
let layouts: Row | undefined;
let commits: Row | undefined;
if (DATABASE_URL) {
  const schema = `gradloom_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  try {
    const open = () => createPostgresStore({ connectionString: DATABASE_URL, schema });
    const store = await open();
    results.postgres = await timings(store);
    await store.close();
    cost = await perJobCost(open, admin, schema);
    layouts = await epochLayouts(admin, schema);
    commits = await commitCost(admin, schema);
    for (const c of [1, 8]) {
      cost[`store work only: tutorial jobs/s with ${c} simulated worker${c > 1 ? 's' : ''} on one pool`] = await throughput(open, schema, c);
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`store timings (median ms; N=${N}; ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
console.log('| operation | SQLite | PostgreSQL |');
console.log('|---|---|---|');
for (const op of Object.keys(results.sqlite)) {
  console.log(`| ${op} | ${fmt(results.sqlite[op])} | ${DATABASE_URL ? fmt(results.postgres?.[op]) : 'DATABASE_URL unset'} |`);
}
if (cost) {
  console.log(`\none tutorial job on PostgreSQL (average of ${JOBS}):`);
  console.log('| cost | per job |');
  console.log('|---|---|');
  for (const [k, v] of Object.entries(cost)) console.log(`| ${k} | ${fmt(v)} |`);
}
if (layouts) {
  console.log(`\n500 epochs of one job, 10 inserts of 50 (average of ${JOBS} jobs):`);
  console.log('| layout | per job |');
  console.log('|---|---|');
  for (const [k, v] of Object.entries(layouts)) console.log(`| ${k} | ${fmt(v)} |`);
}
if (commits) {
  console.log('\nthe PostgreSQL server\'s commit cost (median of 200):');
  console.log('| commit | ms |');
  console.log('|---|---|');
  for (const [k, v] of Object.entries(commits)) console.log(`| ${k} | ${fmt(v)} |`);
}
