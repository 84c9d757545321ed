/**
 * Faults seen through HTTP, with the real runtime (Piscina running the compiled workers; `npm test` builds first):
 * a diverging job, a worker that dies, the per-job wall-clock limit, and the draining state. The manager-level
 * tests (test/service/manager.test.ts) cover the runtime's side; these check what a client of the API sees.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';
import { ALICE_KEY, auth, BOB_KEY, makeHardenedApp, realManager, TWO_TENANTS, waitForJob, type HardenedApp } from './service.js';

// The runtime engineer's test worker: the real one, plus failure modes chosen by the job's name.
const TEST_WORKER = fileURLToPath(new URL('../service/helpers/test-train-worker.mjs', import.meta.url));

const apps: HardenedApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function realApp(env: Record<string, string> = {}, workers = 1): Promise<HardenedApp> {
  const h = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS, ...env }, manager: realManager(workers, TEST_WORKER) });
  apps.push(h);
  return h;
}

const small = (over: Record<string, unknown> = {}) => ({
  model: { kind: 'two_layer_net', inputDim: 8, hiddenDim: 6, outputDim: 2 },
  data: { kind: 'random', n: 16 },
  training: { epochs: 30, loss: 'mse', optimizer: { kind: 'adam', lr: 0.01 } },
  seed: 3,
  ...over,
});
const long = (epochs: number, over: Record<string, unknown> = {}) => ({
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
  ...over,
});

async function submit(h: HardenedApp, spec: unknown, key = ALICE_KEY): Promise<string> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth(key), payload: spec as object });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

describe('faults through HTTP', () => {
  it('a diverging loss fails the job with "diverged at epoch k (loss=...)" and keeps the last finite checkpoint', async () => {
    const h = await realApp();
    const id = await submit(h, {
      model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
      data: { kind: 'inline', x: [[1e3], [2e3], [-1.5e3]], y: [[1], [2], [3]] },
      training: { epochs: 1000, loss: 'sse', optimizer: { kind: 'sgd', lr: 1 } },
      seed: 0,
    });
    const job = await waitForJob(h.app, ALICE_KEY, id);
    expect(job.status).toBe('failed');
    const error = job.error as { code: string; message: string };
    expect(error.code).toBe('diverged');
    const m = /^diverged at epoch (\d+) \(loss=(.+)\)$/.exec(error.message);
    expect(m, error.message).not.toBeNull();
    const k = Number(m![1]);
    expect(['NaN', 'Infinity', '-Infinity']).toContain(m![2]);
    expect(k).toBeGreaterThan(1);
    // Every stored loss is finite and the history stops before the diverging epoch.
    const metrics = (await h.app.inject({ method: 'GET', url: `/v1/jobs/${id}/metrics`, headers: auth(ALICE_KEY) })).json();
    expect(metrics.epochs.length).toBe(k - 1);
    expect(metrics.epochs.every((e: { loss: number | null }) => e.loss !== null && Number.isFinite(e.loss))).toBe(true);
    // The checkpoint is the last finite one: the weights epoch k started from.
    const ckpt = await h.app.inject({ method: 'GET', url: `/v1/jobs/${id}/checkpoint`, headers: auth(ALICE_KEY) });
    expect(ckpt.statusCode).toBe(200);
    const tensors = parseSafetensors(new Uint8Array(ckpt.rawPayload)).tensors;
    for (const [name, t] of Object.entries(tensors)) expect(t.data.every(Number.isFinite), name).toBe(true);
    const list = (await h.app.inject({ method: 'GET', url: `/v1/jobs/${id}/checkpoints`, headers: auth(ALICE_KEY) })).json();
    expect(list.items.at(-1)).toMatchObject({ epoch: k - 1 });
    const pred = await h.app.inject({ method: 'POST', url: `/v1/jobs/${id}/predictions`, headers: auth(ALICE_KEY), payload: { x: [[1]] } });
    expect(pred.statusCode).toBe(200);
    expect(Number.isFinite(pred.json().y[0][0])).toBe(true);
  });

  it('a worker thread that dies fails only its job, with the reason; the pool replaces it', async () => {
    const h = await realApp({}, 2);
    const healthy = await submit(h, long(300), BOB_KEY);
    const crashed = await Promise.all(['crash:exit', 'crash:throw', 'crash:uncaught'].map((name) => submit(h, small({ name }))));
    for (const id of crashed) {
      const job = await waitForJob(h.app, ALICE_KEY, id);
      expect(job.status).toBe('failed');
      expect((job.error as { code: string }).code).toBe('worker_crashed');
      expect((job.error as { message: string }).message).toMatch(/^worker_crashed: /);
      expect(JSON.stringify(job.error)).not.toMatch(/\/work\/|node_modules|\n\s+at /);
    }
    const h1 = await waitForJob(h.app, BOB_KEY, healthy);
    expect(h1.status).toBe('succeeded');
    expect(h1.epoch).toBe(300);
    // Two more jobs after three dead threads: both workers were replaced.
    const after = await Promise.all([submit(h, small()), submit(h, small({ seed: 4 }))]);
    for (const id of after) expect((await waitForJob(h.app, ALICE_KEY, id)).status).toBe('succeeded');
  });

  it('enforces the per-job wall-clock limit (JOB_TIMEOUT_MS), also on a worker that ignores the cancel flag', async () => {
    const h = await realApp({ JOB_TIMEOUT_MS: '400' });
    const slow = await submit(h, long(100_000)); // far more than 400 ms of training
    const s = await waitForJob(h.app, ALICE_KEY, slow);
    expect(s.status).toBe('failed');
    expect(s.error).toMatchObject({ code: 'timeout' });
    expect((s.error as { message: string }).message).toMatch(/wall-clock limit of 400 ms/);
    const hung = await submit(h, small({ name: 'hang' }));
    const g = await waitForJob(h.app, ALICE_KEY, hung);
    expect(g.status).toBe('failed');
    expect(g.error).toMatchObject({ code: 'timeout' });
    const ok = await submit(h, small());
    expect((await waitForJob(h.app, ALICE_KEY, ok)).status).toBe('succeeded');
  });

  it('drops stream clients that stop answering pings (WS_PING_INTERVAL_MS), keeps the ones that answer', async () => {
    const h = await realApp({ WS_PING_INTERVAL_MS: '300' });
    const id = await submit(h, long(50_000)); // still training when the test ends (then cancelled)
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `ws://127.0.0.1:${(h.app.server.address() as { port: number }).port}/v1/jobs/${id}/stream`;
    const dead = new WebSocket(url, { headers: auth(ALICE_KEY), autoPong: false });
    const live = new WebSocket(url, { headers: auth(ALICE_KEY) });
    let liveClosed = false;
    live.on('close', () => (liveClosed = true));
    const code = await new Promise<number>((r) => dead.on('close', (c) => r(c)));
    expect(code).toBe(1006); // terminated, no close frame
    await new Promise((r) => setTimeout(r, 1000)); // a few more ping intervals
    expect(liveClosed).toBe(false);
    live.close();
    await h.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel`, headers: auth(ALICE_KEY) });
  });

  it('while draining: new jobs get 503 with Retry-After, /readyz is 503, reads still work', async () => {
    const h = await realApp();
    const id = await submit(h, long(50_000));
    await waitForJob(h.app, ALICE_KEY, id, (j) => j.epoch >= 5);
    const drained = h.app.gradloom.drain();
    const refused = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth(ALICE_KEY), payload: small() });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json().error).toBe('shutting_down');
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    await drained;
    const job = await h.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: auth(ALICE_KEY) });
    expect(job.statusCode).toBe(200);
    // Interrupted for shutdown: queued again, with a resume point at the epoch it reached.
    expect(job.json().status).toBe('queued');
    const resume = await h.store.getResumeState(id);
    expect(resume?.epoch).toBe(job.json().epoch);
    expect(resume!.epoch).toBeGreaterThanOrEqual(5);
  });
});
