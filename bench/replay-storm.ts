/**
 * `npm run build && node dist/bench/replay-storm.js`: what N subscribers opening the stream of one finished job with
 * a long history cost the server (each stream replays the whole loss history when it opens). Prints JSON: the
 * time until every stream has closed, the messages received, and the server's peak RSS sampled every 100 ms.
 * Environment: STORM_SUBSCRIBERS (100), STORM_EPOCHS (100000).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const SUBSCRIBERS = Number(process.env.STORM_SUBSCRIBERS ?? 100);
const EPOCHS = Number(process.env.STORM_EPOCHS ?? 100_000);
const KEY = 'storm-tenant-key-0123456789abcdef';
const root = resolve(fileURLToPath(import.meta.url), '../../..');

const port = await new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const dataDir = mkdtempSync(join(os.tmpdir(), 'gradloom-storm-'));
const server = spawn(process.execPath, [join(root, 'dist/src/service/main.js')], {
  cwd: root,
  env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', API_KEYS: `storm:${KEY}`, TENANT_MAX_STREAMS: String(SUBSCRIBERS) },
  stdio: 'ignore',
});
const base = `http://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 200) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const job = (await (
    await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
        data: { kind: 'random', n: 2 },
        training: { epochs: EPOCHS, loss: 'mse', optimizer: { kind: 'sgd', lr: 1e-3 } },
        seed: 0,
      }),
    })
  ).json()) as { id: string };
  for (;;) {
    const j = (await (await fetch(`${base}/v1/jobs/${job.id}`, { headers })).json()) as { status: string };
    if (j.status === 'succeeded') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rssBefore = rss(server.pid!);
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(server.pid!))), 100);
  let messages = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: SUBSCRIBERS }, () =>
      new Promise<void>((done) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/jobs/${job.id}/stream`, { headers: { authorization: `Bearer ${KEY}` } });
        ws.on('message', () => messages++);
        ws.on('close', () => done());
        ws.on('error', () => done());
      }),
    ),
  );
  clearInterval(sampler);
  console.log(
    JSON.stringify({
      case: 'replay-storm',
      subscribers: SUBSCRIBERS,
      historyEpochs: EPOCHS,
      seconds: (Date.now() - t0) / 1000,
      messages,
      serverRssMiB: { before: Math.round(rssBefore), peak: Math.round(peak) },
    }),
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
