/**
 * gradloom as api and worker processes on PostgreSQL, measured: `npm run bench:cluster` (needs DATABASE_URL).
 * - throughput: 20 tutorial jobs (the two-layer net, 500 epochs) through one api node, with 1 and then 2 worker
 *   processes (one training thread each), jobs/s from the first submit to the last succeeded status;
 * - recovery: a worker SIGKILLed mid-job; the time from the kill to the job's resumption on the other worker (the
 *   lease, LEASE_MS, is most of it), the epochs trained again, and whether every job still ends with the same losses
 *   and checkpoint as the others (same spec, same seed).
 * Works in its own schema of the database, dropped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SERVER_NODE_FLAGS } from '../src/service/node-flags.js';

const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL) {
  console.error('bench:cluster needs DATABASE_URL=postgres://user@host:port/db (a PostgreSQL it may create a schema in)');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = [resolve(here, '..'), resolve(here, '../..')].find((d) => !d.endsWith('dist'))!;
const MAIN = join(ROOT, 'dist/src/service/main.js');
const SCHEMA = `gl_bench_${randomBytes(4).toString('hex')}`;
const LEASE_MS = Number(process.env.LEASE_MS ?? 3000);

interface Node {
  proc: ChildProcess;
  base: string;
  logs: Record<string, unknown>[];
  exited: Promise<void>;
}

function startNode(role: string, env: Record<string, string> = {}): Promise<Node> {
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: DATABASE_URL!,
      DATABASE_SCHEMA: SCHEMA,
      ROLE: role,
      WORKERS: '1',
      LEASE_MS: String(LEASE_MS),
      RESUME_SNAPSHOT_MS: '500',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const l = JSON.parse(line) as Record<string, unknown>;
          logs.push(l);
          const m = typeof l.msg === 'string' ? /serving on http:\/\/[^:]+:(\d+)/.exec(l.msg) : null;
          if (m) resolvePromise({ proc, base: `http://127.0.0.1:${m[1]}`, logs, exited });
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(() => reject(new Error(`${role} node exited before listening: ${err}`)));
  });
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const tutorial = (epochs = 500) => ({
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
});

/** Waits until every job ended: one list request every 50 ms (polling each job would load the api node). */
async function waitAll(api: Node, ids: string[]): Promise<any[]> {
  const done = new Map<string, any>();
  const wanted = new Set(ids);
  while (done.size < ids.length) {
    const page = await call(api.base, 'GET', '/v1/jobs?limit=100');
    for (const j of page.items) {
      if (wanted.has(j.id) && ['succeeded', 'failed', 'cancelled'].includes(j.status)) done.set(j.id, j);
    }
    if (done.size < ids.length) await new Promise((r) => setTimeout(r, 50));
  }
  return ids.map((id) => done.get(id));
}

async function throughput(api: Node, jobs: number): Promise<number> {
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < jobs; i++) ids.push((await call(api.base, 'POST', '/v1/jobs', tutorial())).id);
  const finals = await waitAll(api, ids);
  const seconds = (performance.now() - t0) / 1000;
  const bad = finals.filter((j) => j.status !== 'succeeded');
  if (bad.length) throw new Error(`${bad.length} jobs did not succeed: ${JSON.stringify(bad[0]).slice(0, 300)}`);
  return jobs / seconds;
}

const nodes: Node[] = [];
async function main(): Promise<void> {
  // For scale: the embedded single process (SQLite, one training thread) on the same jobs.
  const embedded = await startNode('all', { DATABASE_URL: '', DATA_DIR: mkdtempSync(join(tmpdir(), 'gl-bench-embedded-')), RATE_LIMIT_PER_MINUTE: '0' });
  nodes.push(embedded);
  await throughput(embedded, 1);
  const single = await throughput(embedded, 20);
  embedded.proc.kill('SIGTERM');
  await embedded.exited;

  const api = await startNode('api', { RATE_LIMIT_PER_MINUTE: '0' });
  nodes.push(api);
  const w1 = await startNode('worker', { NODE_ID: 'bench-w1' });
  nodes.push(w1);
  // Warm the worker's thread (first job pays the thread start-up).
  await throughput(api, 1);
  const one = await throughput(api, 20);
  const w2 = await startNode('worker', { NODE_ID: 'bench-w2' });
  nodes.push(w2);
  await throughput(api, 2);
  const two = await throughput(api, 20);

  // Recovery: one long job on two idle workers; kill the one that runs it once it is under way. Then the same job
  // again, uninterrupted, as the reference.
  const victimJob = (await call(api.base, 'POST', '/v1/jobs', tutorial(4000))).id as string;
  let victim: Node | undefined;
  while (!(victim = [w1, w2].find((w) => w.logs.some((l) => l.msg === 'job started' && l.jobId === victimJob)))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  let atKill = 0;
  for (;;) {
    const j = await call(api.base, 'GET', `/v1/jobs/${victimJob}`);
    if (j.epoch >= 1000) {
      atKill = j.epoch;
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  victim.proc.kill('SIGKILL');
  const killedAt = Date.now();
  const survivor = victim === w1 ? w2 : w1;
  let resumed: Record<string, unknown> | undefined;
  while (!(resumed = survivor.logs.find((l) => l.msg === 'job resuming from snapshot' && l.jobId === victimJob))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const claimAfterMs = Number(resumed.time) - killedAt;
  const [victimFinal] = await waitAll(api, [victimJob]);
  const referenceJob = (await call(api.base, 'POST', '/v1/jobs', tutorial(4000))).id as string;
  await waitAll(api, [referenceJob]);
  const lossesOf = async (id: string) => JSON.stringify((await call(api.base, 'GET', `/v1/jobs/${id}/metrics`)).epochs.map((e: { epoch: number; loss: number }) => [e.epoch, e.loss]));
  const identical = (await lossesOf(victimJob)) === (await lossesOf(referenceJob));
  const weights = async (id: string) => Buffer.from(await (await fetch(`${api.base}/v1/jobs/${id}/checkpoint`)).arrayBuffer());
  const sameWeights = (await weights(victimJob)).equals(await weights(referenceJob));
  const redone = atKill - Number(resumed.epoch);

  console.log(`gradloom bench:cluster  (${new Date().toISOString()}, load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  console.log('| case | figure |');
  console.log('| --- | --- |');
  console.log(`| tutorial jobs/s, embedded single process (SQLite, 1 thread) | ${single.toFixed(2)} |`);
  console.log(`| tutorial jobs/s, 1 worker process (1 thread) | ${one.toFixed(2)} |`);
  console.log(`| tutorial jobs/s, 2 worker processes (1 thread each) | ${two.toFixed(2)} (x${(two / one).toFixed(2)}) |`);
  console.log(`| SIGKILL at epoch | ${atKill} of 4000 |`);
  console.log(`| resumed from epoch (snapshot) | ${resumed.epoch}: ${redone} epochs trained again |`);
  console.log(`| kill -> resumed on the idle worker | ${claimAfterMs} ms (LEASE_MS ${LEASE_MS}, idle poll 1000 ms) |`);
  console.log(`| the killed job | ${victimFinal.status}; 4000-epoch history equal to an uninterrupted run: ${identical}; checkpoint bytes equal: ${sameWeights} |`);
}

try {
  await main();
} finally {
  for (const n of nodes) n.proc.kill('SIGKILL');
  await Promise.all(nodes.map((n) => n.exited));
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
}
