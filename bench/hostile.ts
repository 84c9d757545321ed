/**
 * `npm run bench:hostile`: issue 11's hostile requests against a real server process (not a test). Starts
 * `node dist/src/service/main.js` (or HOSTILE_SERVER_MAIN, e.g. another checkout's build, for a before/after) on
 * 127.0.0.1 with a temporary DATA_DIR, one API key and every limit at its default, trains one small job (for the
 * predictions route), then sends every case of bench/hostile-cases.ts HOSTILE_ROUNDS times (default 3),
 * HOSTILE_CONCURRENCY at a time (default 2), while probing GET /healthz every 50 ms.
 *
 * Prints one JSON document: worst and p99 /healthz latency, the largest answer, the server's peak RSS (VmHWM), the
 * count of 5xx answers and of answers of the wrong class, and per case its statuses, slowest time and largest
 * answer. Exits 1 when any answer was 5xx or of the wrong class.
 *
 * Environment: HOSTILE_ROUNDS, HOSTILE_CONCURRENCY, HOSTILE_SIZE (scales the large bodies, default 1 = 16 MiB),
 * HOSTILE_ONLY (comma-separated label prefixes), HOSTILE_VALID=0 (leave out the valid large bodies), HOSTILE_SERVER_MAIN,
 * HOSTILE_REQUEST_TIMEOUT_MS (default 300000), HOSTILE_TAIL_MS (default 8000: /healthz is probed that long after the last
 * answer, for what accepted jobs cost once answered; reported as worstHealthzAfterMs).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostileCases, type HostileCase } from './hostile-cases.js';

export interface CaseReport {
  label: string;
  statuses: Record<string, number>;
  slowestMs: number;
  largestAnswerBytes: number;
  /** The slowest /healthz probe that overlapped a request of this case (others may have been in flight too). */
  worstHealthzMs: number;
  firstAnswer: string;
}

export interface HostileReport {
  probes: number;
  failedProbes: number;
  /** The worst /healthz probe after the last answer (within tailMs). */
  worstHealthzAfterMs: number;
  worstHealthzMs: number;
  p99HealthzMs: number;
  largestAnswer: { bytes: number; label: string };
  peakRssMiB: number | null;
  count5xx: number;
  wrongClass: string[];
  cases: CaseReport[];
}

/** Peak resident set of a process (Linux: VmHWM), in MiB. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/**
 * Sends `cases` `rounds` times, `concurrency` at a time, to `base` while probing /healthz every 50 ms.
 * `job` replaces `:job` in paths. `pid` (optional) is the server's, for its peak RSS.
 */
export async function driveHostile(options: {
  base: string;
  key: string;
  job: string;
  cases: HostileCase[];
  rounds?: number;
  concurrency?: number;
  pid?: number;
  requestTimeoutMs?: number;
  /** Probe on for this long after the last answer (what accepted jobs cost once answered: training, store writes). */
  tailMs?: number;
}): Promise<HostileReport> {
  const { base, key, cases } = options;
  const latencies: number[] = [];
  let failedProbes = 0;
  let probing = true;
  const inFlight = new Set<Promise<void>>();
  const sending = new Set<CaseReport>();
  const probeOnce = async () => {
    const overlapping = new Set(sending);
    const t0 = performance.now();
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(120_000) });
      await res.arrayBuffer();
      if (res.status !== 200) failedProbes++;
    } catch {
      failedProbes++;
    }
    const ms = performance.now() - t0;
    latencies.push(ms);
    for (const r of sending) overlapping.add(r);
    for (const r of overlapping) r.worstHealthzMs = Math.max(r.worstHealthzMs, Math.round(ms));
  };
  const timer = setInterval(() => {
    if (!probing) return;
    const p = probeOnce();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }, 50);

  const reports = new Map<string, CaseReport>(cases.map((c) => [c.label, { label: c.label, statuses: {}, slowestMs: 0, largestAnswerBytes: 0, worstHealthzMs: 0, firstAnswer: '' }]));
  let count5xx = 0;
  const wrongClass: string[] = [];
  let largest = { bytes: 0, label: '' };

  const send = async (c: HostileCase) => {
    const r = reports.get(c.label)!;
    sending.add(r);
    const t0 = performance.now();
    let status: number;
    let bytes = 0;
    let text = '';
    try {
      const res = await fetch(`${base}${c.path.replace(':job', options.job)}`, {
        method: c.method,
        headers: { authorization: `Bearer ${key}`, ...(c.method === 'POST' ? { 'content-type': c.contentType } : {}) },
        body: c.method === 'POST' ? c.body : undefined,
        signal: AbortSignal.timeout(options.requestTimeoutMs ?? 300_000),
      });
      const body = Buffer.from(await res.arrayBuffer());
      status = res.status;
      bytes = body.byteLength;
      text = body.subarray(0, 300).toString('utf8');
    } catch (err) {
      status = 0;
      text = String((err as Error).message);
    }
    const ms = performance.now() - t0;
    sending.delete(r);
    r.statuses[status] = (r.statuses[status] ?? 0) + 1;
    r.slowestMs = Math.max(r.slowestMs, Math.round(ms));
    r.largestAnswerBytes = Math.max(r.largestAnswerBytes, bytes);
    if (!r.firstAnswer) r.firstAnswer = text.slice(0, 200);
    if (bytes > largest.bytes) largest = { bytes, label: c.label };
    if (status >= 500) count5xx++;
    const ok = c.expect === 'accept' ? status >= 200 && status < 300 : status >= 400 && status < 500;
    if (!ok) wrongClass.push(`${c.label}: ${status}`);
  };

  const queue: HostileCase[] = [];
  for (let round = 0; round < (options.rounds ?? 1); round++) queue.push(...cases);
  const concurrency = options.concurrency ?? 2;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await send(c);
    }),
  );
  // Probes after the load (a last one at least), then stop.
  const tailFrom = latencies.length;
  await new Promise((r) => setTimeout(r, Math.max(200, options.tailMs ?? 200)));
  probing = false;
  clearInterval(timer);
  await Promise.all([...inFlight]);

  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    probes: latencies.length,
    failedProbes,
    worstHealthzAfterMs: Math.round(Math.max(0, ...latencies.slice(tailFrom))),
    worstHealthzMs: Math.round(sorted[sorted.length - 1] ?? 0),
    p99HealthzMs: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
    largestAnswer: largest,
    peakRssMiB: options.pid ? peakRssMiB(options.pid) : null,
    count5xx,
    wrongClass,
    cases: [...reports.values()],
  };
}

/** Trains a small job to completion, for the predictions route; returns its id. */
export async function trainedJob(base: string, key: string): Promise<string> {
  const res = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
      data: { kind: 'random', n: 8 },
      training: { epochs: 2, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
    }),
  });
  if (res.status !== 201) throw new Error(`could not submit the setup job: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { status: string };
    if (job.status === 'succeeded') return id;
    if (['failed', 'cancelled'].includes(job.status) || Date.now() > deadline) throw new Error(`setup job ${id} ended ${job.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

async function main(): Promise<void> {
  const root = resolve(fileURLToPath(import.meta.url), '../../..');
  const serverMain = process.env.HOSTILE_SERVER_MAIN ?? join(root, 'dist/src/service/main.js');
  const dataDir = mkdtempSync(join(os.tmpdir(), 'gradloom-hostile-'));
  const key = 'hostile-bench-key-0123456789abcdef';
  const port = await freePort();
  const server = spawn(process.execPath, [serverMain], {
    env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, API_KEYS: `bench:${key}`, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (i > 300 || server.exitCode !== null) throw new Error(`the server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const only = process.env.HOSTILE_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
    const cases = hostileCases({ size: Number(process.env.HOSTILE_SIZE ?? 1) })
      .filter((c) => !only || only.some((o) => c.label.startsWith(o)))
      .filter((c) => process.env.HOSTILE_VALID !== '0' || c.expect === 'refuse');
    const job = await trainedJob(base, key);
    const report = await driveHostile({
      base,
      key,
      job,
      cases,
      rounds: Number(process.env.HOSTILE_ROUNDS ?? 3),
      concurrency: Number(process.env.HOSTILE_CONCURRENCY ?? 2),
      pid: server.pid,
      requestTimeoutMs: Number(process.env.HOSTILE_REQUEST_TIMEOUT_MS ?? 300_000),
      tailMs: Number(process.env.HOSTILE_TAIL_MS ?? 8000),
    });
    process.stdout.write(`${JSON.stringify({ server: serverMain, loadavg: os.loadavg().map((l) => l.toFixed(2)), ...report }, null, 2)}\n`);
    if (report.count5xx > 0 || report.wrongClass.length > 0) process.exitCode = 1;
  } finally {
    server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
