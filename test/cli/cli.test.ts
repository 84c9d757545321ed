/**
 * The `gradloom` bin as users run it: the compiled dist/src/cli/main.js executed directly (shebang + exec bit) in a
 * child process, against a real server (buildApp with the embedded runtime and API keys) on an ephemeral port.
 */
import { execFile, execSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { regressionSpec, twoLayerSpec } from '../helpers/app.js';
import { startLiveServer, waitForJob, type LiveServer } from '../helpers/live-server.js';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'dist/src/cli/main.js');
const KEY = 'cli-test-key-0123456789abcdef';

let server: LiveServer;
let dir: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bin asynchronously (the server lives in this process: a synchronous child would block it). */
function gradloom(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { PATH: process.env.PATH ?? '', GRADLOOM_URL: server.url, GRADLOOM_API_KEY: KEY, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((p) => newestMtime(join(path, p))));
}

beforeAll(async () => {
  // `npm test` builds first; when this file runs alone on stale output, build so that the bin is the code under test.
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < newestMtime(join(ROOT, 'src'))) execSync('npm run build', { cwd: ROOT, stdio: 'ignore' });
  server = await startLiveServer({ apiKey: KEY });
  dir = mkdtempSync(join(tmpdir(), 'gradloom-cli-'));
  writeFileSync(join(dir, 'regression.json'), JSON.stringify(regressionSpec));
}, 180_000);
afterAll(async () => {
  await server?.close();
});

test('the bin is executable with a node shebang; --help prints usage, no command is a usage error', async () => {
  expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  expect(statSync(BIN).mode & 0o111).not.toBe(0);
  const help = await gradloom(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('gradloom submit SPEC.json [--follow]');
  const none = await gradloom([]);
  expect(none.code).toBe(2);
  const bad = await gradloom(['jobs', '--frobnicate']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/Unknown option '--frobnicate'/);
  const unknown = await gradloom(['launch']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown command "launch"');
});

test('submit --follow streams the tutorial regression to completion and prints the final status', async () => {
  const r = await gradloom(['submit', join(dir, 'regression.json'), '--follow']);
  expect(r.stderr).toMatch(/^submitted \S+/);
  expect(r.code).toBe(0);
  const id = /^submitted (\S+)/.exec(r.stderr)![1];
  const job = (await (await server.api('GET', `/v1/jobs/${id}`)).json()) as { status: string; epoch: number; lastLoss: number };
  expect(job.status).toBe('succeeded');
  // Not a terminal: one progress line per 10%, the last at 60/60.
  const lines = r.stdout.trim().split('\n');
  expect(lines.at(-2)).toMatch(/^\[#{24}\] 60\/60 100% {2}loss \S+ {2}ETA/);
  expect(lines.at(-1)).toBe(`job ${id} succeeded at epoch 60/60, loss ${Number(job.lastLoss.toPrecision(4))}${lines.at(-1)!.slice(lines.at(-1)!.indexOf(' in '))}`);
  expect(lines.at(-1)).toMatch(/ in \d/);
});

test('submit --follow --json prints every stream message, then the final job', async () => {
  const r = await gradloom(['submit', join(dir, 'regression.json'), '--follow', '--json']);
  expect(r.code).toBe(0);
  const messages = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = messages.filter((m) => m.type === 'epoch');
  expect(epochs.map((m) => m.epoch)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  const final = messages.at(-1) as { id: string; status: string; epoch: number };
  expect(messages.at(-2)).toMatchObject({ type: 'status', status: 'succeeded', epoch: 60, epochs: 60 });
  expect(final).toMatchObject({ status: 'succeeded', epoch: 60 });
  const metrics = (await (await server.api('GET', `/v1/jobs/${final.id}/metrics`)).json()) as { epochs: Array<{ loss: number }> };
  expect(epochs.map((m) => m.loss)).toEqual(metrics.epochs.map((e) => e.loss));
});

test('jobs, status, predict and checkpoint agree with the API', async () => {
  const submitted = await gradloom(['submit', join(dir, 'regression.json')]);
  expect(submitted.code).toBe(0);
  const id = submitted.stdout.trim();
  await waitForJob(server, id);

  const list = await gradloom(['jobs', '--limit', '100']);
  expect(list.code).toBe(0);
  expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+EPOCH\s+LOSS\s+NAME$/);
  expect(list.stdout).toMatch(new RegExp(`^${id}\\s+succeeded\\s+60/60\\s`, 'm'));
  const listJson = JSON.parse((await gradloom(['jobs', '--json', '--status', 'succeeded'])).stdout) as { items: Array<{ id: string }> };
  expect(listJson.items.map((j) => j.id)).toContain(id);
  // --tag and --name reach the API's filters.
  const ids = async (...args: string[]) =>
    (JSON.parse((await gradloom(['jobs', '--json', ...args])).stdout) as { items: Array<{ id: string }> }).items.map((j) => j.id);
  expect(await ids('--tag', 'no-job-has-this-tag')).toEqual([]);
  expect(await ids('--name', 'no job is named like this')).toEqual([]);
  expect(await ids('--name', 'REGRESS')).toContain(id);

  const status = await gradloom(['status', id]);
  expect(status.stdout).toMatch(/^status\s+succeeded$/m);
  expect(status.stdout).toMatch(/^progress\s+60\/60$/m);
  expect(JSON.parse((await gradloom(['status', id, '--json'])).stdout)).toMatchObject({ id, status: 'succeeded' });

  const predict = await gradloom(['predict', id, '--x', '[[1.5],[7]]']);
  expect(predict.code).toBe(0);
  const api = (await (await server.api('POST', `/v1/jobs/${id}/predictions`, { x: [[1.5], [7]] })).json()) as { y: number[][] };
  expect(JSON.parse(predict.stdout)).toEqual(api.y);

  const out = join(dir, 'model.safetensors');
  const ckpt = await gradloom(['checkpoint', id, '-o', out]);
  expect(ckpt.code).toBe(0);
  const bytes = new Uint8Array(await (await server.api('GET', `/v1/jobs/${id}/checkpoint`)).arrayBuffer());
  expect(new Uint8Array(readFileSync(out))).toEqual(bytes);
  expect(ckpt.stderr).toBe(`wrote ${out} (${bytes.byteLength} bytes)\n`);

  const svg = join(dir, 'fit.svg');
  expect((await gradloom(['plot', id, '--fit', '-o', svg])).code).toBe(0);
  expect(readFileSync(svg, 'utf8')).toContain('<svg');
});

test('cancel stops a running job; a follower sees it and exits 4', async () => {
  const long = { ...twoLayerSpec, name: 'long', training: { ...twoLayerSpec.training, epochs: 100_000 } };
  const job = (await (await server.api('POST', '/v1/jobs', long)).json()) as { id: string };
  await waitForJob(server, job.id, (j) => j.status === 'running' && j.epoch >= 1);
  const follower = gradloom(['follow', job.id]);
  const cancel = await gradloom(['cancel', job.id]);
  expect(cancel.code).toBe(0);
  expect(cancel.stdout).toMatch(new RegExp(`^job ${job.id}: cancel requested|^job ${job.id} cancelled`));
  const followed = await follower;
  expect(followed.code).toBe(4);
  expect(followed.stderr).toMatch(new RegExp(`job ${job.id} cancelled at epoch \\d+/100000`));
  // Cancelling again is a no-op; a finished job cannot be cancelled and the server says why.
  expect((await gradloom(['cancel', job.id])).stdout).toBe(`job ${job.id} cancelled\n`);
});

test('a job that fails makes --follow exit 3 with the reason', async () => {
  const diverging = { ...regressionSpec, name: 'diverges', training: { ...regressionSpec.training, epochs: 500, optimizer: { kind: 'sgd', lr: 1e6 } } };
  writeFileSync(join(dir, 'diverging.json'), JSON.stringify(diverging));
  const r = await gradloom(['submit', join(dir, 'diverging.json'), '--follow']);
  const id = /^submitted (\S+)/.exec(r.stderr)![1];
  const job = (await (await server.api('GET', `/v1/jobs/${id}`)).json()) as { status: string; error: { code: string; message: string } };
  expect(job.status).toBe('failed');
  expect(r.code).toBe(3);
  expect(r.stderr).toContain(`job ${id} failed at epoch`);
  expect(r.stderr).toContain(`${job.error.code}: ${job.error.message}`);
});

test('errors exit 1 with the server message: validation issues, a wrong key, a finished job, an unreachable server', async () => {
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...regressionSpec, training: { ...regressionSpec.training, optimizer: { kind: 'sgd', lr: -1 } } }));
  const invalid = await gradloom(['submit', join(dir, 'bad.json')]);
  expect(invalid.code).toBe(1);
  expect(invalid.stderr).toMatch(/\(HTTP 400 validation_error\)/);
  expect(invalid.stderr).toMatch(/^ {2}training\.optimizer\.lr: .+$/m);

  const asJson = await gradloom(['submit', join(dir, 'bad.json'), '--json']);
  expect(asJson.code).toBe(1);
  const errorBody = JSON.parse(asJson.stderr) as { error: string; issues: Array<{ path: string }> };
  expect(errorBody.error).toBe('validation_error');
  expect(errorBody.issues.map((i) => i.path)).toContain('training.optimizer.lr');

  const unauthorized = await gradloom(['jobs'], { GRADLOOM_API_KEY: 'wrong-key-wrong-key' });
  expect(unauthorized.code).toBe(1);
  expect(unauthorized.stderr).toBe('gradloom: send Authorization: Bearer <api key> (HTTP 401 unauthorized)\n');
  // --api-key wins over the environment.
  expect((await gradloom(['jobs', '--api-key', KEY], { GRADLOOM_API_KEY: 'wrong-key-wrong-key' })).code).toBe(0);

  const id = (await gradloom(['submit', join(dir, 'regression.json')])).stdout.trim();
  await waitForJob(server, id);
  const finished = await gradloom(['cancel', id]);
  expect(finished.code).toBe(1);
  expect(finished.stderr).toContain(`job ${id} already succeeded; there is nothing to cancel (HTTP 409 job_finished)`);

  const missing = await gradloom(['status', 'no-such-job']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/no-such-job.*\(HTTP 404/);
  const badX = await gradloom(['predict', id, '--x', '[[1, 2]]']);
  expect(badX.code).toBe(1);
  expect(badX.stderr).toMatch(/inputDim=1/);
  const notJson = await gradloom(['predict', id, '--x', '[[1.5]']);
  expect(notJson.code).toBe(2);
  expect(notJson.stderr).toMatch(/--x is not valid JSON/);

  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const down = await gradloom(['jobs', '--url', `http://127.0.0.1:${port}`]);
  expect(down.code).toBe(1);
  expect(down.stderr).toContain(`cannot reach gradloom at http://127.0.0.1:${port}: ECONNREFUSED`);
});

test('gradloom serve starts the server in-process; SIGTERM drains it and exits 0', async () => {
  const data = mkdtempSync(join(tmpdir(), 'gradloom-serve-'));
  const child = spawn(BIN, ['serve', '--port', '0', '--data-dir', data, '--workers', '1'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /gradloom serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${out}`)));
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/js/app.js"></script>');
    const followed = await gradloom(['submit', join(dir, 'regression.json'), '--follow', '--url', url]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/succeeded at epoch 60\/60/);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
