/**
 * `npm run bench:load`: the load check of issue 6 (not a test). A real server (dist/src/service/main.js) on
 * 127.0.0.1 with a temporary data directory takes, all at once for LOAD_DURATION_S seconds (default 60):
 *   - job submissions (POST /v1/jobs, small jobs that really train; refusals by quota/queue are intended 429s),
 *   - status polling (GET /v1/jobs/:id and GET /v1/jobs),
 *   - predictions (POST /v1/jobs/:id/predictions on a trained job),
 *   - LOAD_SUBSCRIBERS (default 200) WebSocket subscribers streaming a long-running job's losses.
 * It prints one JSON document: throughput and p99 latency per kind of request, status codes, unexpected errors
 * (anything but 2xx and the intended 429s), WebSocket messages/drops/errors, and the server's memory (RSS)
 * before, right after, and after a few seconds of rest.
 *
 * Environment: LOAD_DURATION_S, LOAD_SUBSCRIBERS, LOAD_CONNECTIONS (per autocannon instance, default 8),
 * LOAD_NODE_ARGS (more flags for the server process, which always gets src/service/node-flags.ts's unless
 * LOAD_SERVER_FLAGS=0), RATE_LIMIT_PER_MINUTE (default: high enough not to refuse).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import autocannon, { type Result } from 'autocannon';
import WebSocket from 'ws';
import { SERVER_NODE_FLAGS } from '../src/service/node-flags.js';

interface WsStats {
  opened: number;
  messages: number;
  epochs: number;
  dropped: number;
  errors: number;
  unexpectedCloses: number;
  closeCodes: Record<string, number>;
}

/** Worker thread: open `count` subscribers, count what arrives, report when asked to stop. */
async function runSubscribers(opts: { url: string; key: string; count: number }): Promise<void> {
  const stats: WsStats = { opened: 0, messages: 0, epochs: 0, dropped: 0, errors: 0, unexpectedCloses: 0, closeCodes: {} };
  let stopping = false;
  const sockets: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: opts.count }, () =>
      new Promise<void>((resolveOpen) => {
        const s = new WebSocket(opts.url, { headers: { authorization: `Bearer ${opts.key}` } });
        sockets.push(s);
        s.on('open', () => {
          stats.opened++;
          resolveOpen();
        });
        s.on('message', (m: Buffer) => {
          stats.messages++;
          // Parse only what is not an epoch: parsing every frame would make this thread the bottleneck.
          if (m[9] === 0x65 /* '{"type":"e' */) stats.epochs++;
          else {
            const msg = JSON.parse(m.toString()) as { type: string; count?: number };
            if (msg.type === 'dropped') stats.dropped += msg.count ?? 0;
          }
        });
        s.on('error', () => {
          stats.errors++;
          resolveOpen();
        });
        s.on('close', (code) => {
          stats.closeCodes[code] = (stats.closeCodes[code] ?? 0) + 1;
          if (!stopping) stats.unexpectedCloses++;
        });
      }),
    ),
  );
  parentPort!.postMessage({ opened: stats.opened });
  parentPort!.once('message', () => {
    stopping = true;
    for (const s of sockets) s.close();
    parentPort!.postMessage(stats);
  });
}

if (!isMainThread && (workerData as { role?: string })?.role === 'subscribers') {
  await runSubscribers(workerData);
} else {
  await main();
}

async function main(): Promise<void> {

const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 60);
const SUBSCRIBERS = Number(process.env.LOAD_SUBSCRIBERS ?? 200);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 8);
const KEY = 'load-tenant-key-0123456789abcdef';
const root = resolve(fileURLToPath(import.meta.url), '../../..');

function freePort(): Promise<number> {
  return new Promise((r, j) => {
    const s = createServer();
    s.once('error', j);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
const mib = (b: number) => +(b / 1048576).toFixed(1);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(os.tmpdir(), 'gradloom-load-'));
// LOAD_NODE_ARGS: extra flags for the server process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
// The server's own V8 flags (src/service/node-flags.ts) unless LOAD_SERVER_FLAGS=0; LOAD_NODE_ARGS adds more.
const nodeArgs = [...(process.env.LOAD_SERVER_FLAGS === '0' ? [] : SERVER_NODE_FLAGS), ...(process.env.LOAD_NODE_ARGS ?? '').split(' ').filter(Boolean)];
const server = spawn(process.execPath, [...nodeArgs, join(root, 'dist/src/service/main.js')], {
  cwd: root,
  env: {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    API_KEYS: `load:${KEY}`,
    // High enough that the limiter runs on every request without refusing the measured traffic.
    RATE_LIMIT_PER_MINUTE: process.env.RATE_LIMIT_PER_MINUTE ?? '10000000',
    // One tenant holds all the subscribers here; the default cap (TENANT_MAX_STREAMS=32) would refuse most.
    TENANT_MAX_STREAMS: process.env.TENANT_MAX_STREAMS ?? String(Math.max(32, SUBSCRIBERS)),
    MAX_EPOCHS: '2000000',
  },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let serverErr = '';
server.stderr!.on('data', (c: Buffer) => (serverErr += c.toString()));
const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function until<T>(fn: () => Promise<T | null>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${serverErr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

try {
  await until(async () => ((await fetch(`${base}/readyz`)).ok ? true : null), 'the server');
  // A trained job to poll and predict with (the tutorial's regression), and a long one to stream.
  const trained = await call('POST', '/v1/jobs', {
    model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
    data: { kind: 'random', n: 15 },
    training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
    seed: 0,
  });
  await until(async () => ((await call('GET', `/v1/jobs/${trained.id}`)).status === 'succeeded' ? true : null), 'the trained job');
  const streamed = await call('POST', '/v1/jobs', {
    name: 'streamed',
    model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
    data: { kind: 'random', n: 64 },
    // Longer than any run: at ~3,000 epochs/s (a Zen 4 with the native kernels) 100,000 ended within a minute.
    training: { epochs: 2_000_000, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
    seed: 0,
  });
  await new Promise((r) => setTimeout(r, 2000)); // warm-up: JIT, worker threads, SQLite pages
  const rssBefore = rssBytes(server.pid!);

  // The subscribers live in a worker thread: 200 sockets receiving thousands of messages a second would otherwise
  // starve autocannon's connections on this thread and measure the client instead of the server.
  const subscribers = new Worker(new URL(import.meta.url), {
    workerData: { role: 'subscribers', url: `ws://127.0.0.1:${port}/v1/jobs/${streamed.id}/stream`, key: KEY, count: SUBSCRIBERS },
  });
  const wsOpened = await new Promise<number>((r, j) => {
    subscribers.once('message', (m: { opened: number }) => r(m.opened));
    subscribers.once('error', j);
  });
  if (wsOpened !== SUBSCRIBERS) throw new Error(`only ${wsOpened} of ${SUBSCRIBERS} WebSocket subscribers connected`);

  const smallJob = JSON.stringify({
    model: { kind: 'linear_regression', inputDim: 2, outputDim: 1 },
    data: { kind: 'random', n: 8 },
    training: { epochs: 5, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
  });
  const predictBody = JSON.stringify({ x: Array.from({ length: 16 }, (_, i) => [i / 4]) });
  const common = { url: base, duration: DURATION_S, connections: CONNECTIONS, timeout: 10 };
  const started = Date.now();
  const [submit, poll, predict] = await Promise.all([
    autocannon({ ...common, url: `${base}/v1/jobs`, title: 'submit', connections: Math.max(1, CONNECTIONS / 2), method: 'POST', headers, body: smallJob }),
    autocannon({
      ...common,
      title: 'poll',
      requests: [
        { method: 'GET', path: `/v1/jobs/${trained.id}`, headers },
        { method: 'GET', path: `/v1/jobs/${streamed.id}`, headers },
        { method: 'GET', path: '/v1/jobs?limit=20', headers },
      ],
    }),
    autocannon({ ...common, title: 'predict', method: 'POST', headers, body: predictBody, requests: [{ method: 'POST', path: `/v1/jobs/${trained.id}/predictions`, headers, body: predictBody }] }),
  ]);
  const elapsedS = (Date.now() - started) / 1000;
  const rssAfter = rssBytes(server.pid!);
  const ws = await new Promise<WsStats>((r) => {
    subscribers.once('message', r);
    subscribers.postMessage('stop');
  });
  await subscribers.terminate();
  const streamedJob = await call('GET', `/v1/jobs/${streamed.id}`);
  await call('POST', `/v1/jobs/${streamed.id}/cancel`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 5000));
  const rssRested = rssBytes(server.pid!);

  const summarize = (r: Result, intended: number[] = []) => {
    const codes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count]));
    const unexpected = Object.entries(codes)
      .filter(([code]) => !(Number(code) >= 200 && Number(code) < 300) && !intended.includes(Number(code)))
      .reduce((n, [, c]) => n + c, 0);
    return {
      requests: r.requests.total,
      reqPerSec: +r.requests.average.toFixed(1),
      latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
      statusCodes: codes,
      unexpectedErrors: unexpected + r.errors + r.timeouts,
      socketErrors: r.errors,
      timeouts: r.timeouts,
    };
  };
  const report = {
    case: 'load',
    durationS: +elapsedS.toFixed(1),
    machine: { cpus: os.availableParallelism(), node: process.version },
    connectionsPerKind: CONNECTIONS,
    submit: summarize(submit, [429]),
    poll: summarize(poll),
    predict: summarize(predict),
    totalReqPerSec: +(submit.requests.average + poll.requests.average + predict.requests.average).toFixed(1),
    websocket: { subscribers: SUBSCRIBERS, ...ws, streamedJobEpochsDuringRun: streamedJob.epoch },
    serverMemoryMiB: { rssBefore: mib(rssBefore), rssAfterLoad: mib(rssAfter), rssAfterRest: mib(rssRested) },
  };
  const unexpected =
    report.submit.unexpectedErrors + report.poll.unexpectedErrors + report.predict.unexpectedErrors + ws.errors + ws.unexpectedCloses;
  const ok = unexpected === 0 && ws.opened === SUBSCRIBERS && submit.requests.total > 0 && poll.requests.total > 0 && predict.requests.total > 0;
  console.log(JSON.stringify({ ...report, ok }, null, 2));
  process.exitCode = ok ? 0 : 1;
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
}
