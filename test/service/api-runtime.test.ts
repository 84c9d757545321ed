/**
 * The HTTP layer over the real runtime (SQLite store, Piscina pool, the engine): the tutorial's two programs
 * submitted over HTTP and streamed over WebSockets reproduce the PyTorch fixtures; checkpoints load as PyTorch's
 * state dict; cancel, concurrency and a slow stream consumer. Needs the compiled workers (`npm test` builds).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';
import { buildApp, type App } from '../../src/service/app.js';
import { loadConfig } from '../../src/service/config.js';
import { createJobManager } from '../../src/service/jobs/manager.js';
import type { JobManager, JobStore } from '../../src/service/jobs/types.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { regressionSpec, twoLayerSpec } from '../helpers/app.js';
import { listen, openStream, streamOf, summarize } from '../helpers/ws.js';

const FIXTURES = 'test/fixtures/pytorch';
const regression = JSON.parse(readFileSync(join(FIXTURES, 'linear_regression.json'), 'utf8')) as { losses: number[] };
const twoLayer = JSON.parse(readFileSync(join(FIXTURES, 'two_layer_autograd.json'), 'utf8')) as { losses: number[] };

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** The fixture's measured tolerances (see its README): regression 1e-5 throughout; two-layer 1e-4 to step 150, then 10%. */
function expectRegressionLosses(losses: number[]) {
  expect(losses).toHaveLength(60);
  losses.forEach((l, i) => expect(relErr(l, regression.losses[i]), `epoch ${i + 1}`).toBeLessThan(1e-5));
}
function expectTwoLayerLosses(losses: number[]) {
  expect(losses).toHaveLength(500);
  losses.forEach((l, i) => expect(relErr(l, twoLayer.losses[i]), `epoch ${i + 1}`).toBeLessThan(i <= 150 ? 1e-4 : 0.1));
}

describe('the embedded runtime, owned by buildApp', () => {
  let app: App;
  let host: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gradloom-rt-'));
    app = await buildApp({ config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2' }), logger: false });
    host = await listen(app);
  });
  afterAll(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("the tutorial's two jobs, streamed over WebSockets, reproduce PyTorch's losses", async () => {
    const [reg, two] = await Promise.all(
      [regressionSpec, twoLayerSpec].map(async (spec) => (await request(app.server).post('/v1/jobs').send(spec).expect(201)).body.id as string),
    );
    const [regStream, twoStream] = await Promise.all([streamOf(host, reg), streamOf(host, two)]);
    expectRegressionLosses(summarize(regStream).epochs.map((e) => e.loss));
    expectTwoLayerLosses(summarize(twoStream).epochs.map((e) => e.loss));
    expect(summarize(regStream).last).toMatchObject({ type: 'status', status: 'succeeded', epoch: 60, error: null });
    expect(summarize(twoStream).last).toMatchObject({ type: 'status', status: 'succeeded', epoch: 500, error: null });
    expect(regStream.code).toBe(1000);

    // Metrics carry the same history; a late subscriber gets the whole replay.
    const metrics = await request(app.server).get(`/v1/jobs/${reg}/metrics`).expect(200);
    expect(metrics.body.epochs.map((e: { loss: number }) => e.loss)).toEqual(summarize(regStream).epochs.map((e) => e.loss));
    const late = await streamOf(host, two);
    expect(late.messages).toEqual(twoStream.messages.filter((m) => m.type !== 'dropped'));

    // The checkpoint is PyTorch's state dict: same names and shapes, the fixture's trained values.
    const ckpt = await request(app.server)
      .get(`/v1/jobs/${reg}/checkpoint`)
      .buffer(true)
      .parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      })
      .expect(200);
    const ours = parseSafetensors(new Uint8Array(ckpt.body as Buffer));
    const torch = parseSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'linear_regression.state_dict.safetensors'))));
    expect(Object.keys(ours.tensors).sort()).toEqual(Object.keys(torch.tensors).sort());
    for (const [name, t] of Object.entries(torch.tensors)) {
      expect(ours.tensors[name].shape).toEqual(t.shape);
      t.data.forEach((v, i) => expect(relErr(ours.tensors[name].data[i], v)).toBeLessThan(1e-5));
    }
    // Predictions use those weights: y = w x + b.
    const w = ours.tensors.weight.data[0];
    const b = ours.tensors.bias.data[0];
    const pred = await request(app.server).post(`/v1/jobs/${reg}/predictions`).send({ x: [[1.5], [10]] }).expect(200);
    expect(relErr(pred.body.y[0][0], w * 1.5 + b)).toBeLessThan(1e-6);
    expect(relErr(pred.body.y[1][0], w * 10 + b)).toBeLessThan(1e-6);
    const wrong = await request(app.server).post(`/v1/jobs/${two}/predictions`).send({ x: [[1, 2, 3]] }).expect(400);
    expect(wrong.body.issues[0].message).toBe('x[0] has 3 values but model.inputDim is 1000');
  });

  test('cancel stops a running job; its stream ends with the cancelled status', async () => {
    const { body } = await request(app.server)
      .post('/v1/jobs')
      .send({ ...twoLayerSpec, training: { ...twoLayerSpec.training, epochs: 100_000 } })
      .expect(201);
    const { ws, done } = openStream(host, body.id);
    let firstEpoch!: () => void;
    const started = new Promise<void>((r) => (firstEpoch = r));
    ws.on('message', (d) => JSON.parse(String(d)).type === 'epoch' && firstEpoch());
    await started;
    await request(app.server).post(`/v1/jobs/${body.id}/cancel`).expect(200);
    const { last } = summarize(await done);
    expect(last).toMatchObject({ type: 'status', status: 'cancelled' });
    const job = await request(app.server).get(`/v1/jobs/${body.id}`).expect(200);
    expect(job.body.status).toBe('cancelled');
    expect(job.body.epoch).toBeLessThan(100_000);
    await request(app.server).delete(`/v1/jobs/${body.id}`).expect(204);
  });

  test('many concurrent jobs on two workers all finish with the same, correct losses', async () => {
    const ids = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => (await request(app.server).post('/v1/jobs').send({ ...regressionSpec, name: `r${i}` }).expect(201)).body.id as string),
    );
    const streams = await Promise.all(ids.map((id) => streamOf(host, id)));
    for (const s of streams) {
      expect(summarize(s).last).toMatchObject({ status: 'succeeded' });
      expectRegressionLosses(summarize(s).epochs.map((e) => e.loss));
    }
  });
});

describe('a slow WebSocket consumer with the real stream hub', () => {
  let app: App;
  let store: JobStore;
  let manager: JobManager;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gradloom-slow-'));
    store = createSqliteStore({ dataDir });
    manager = createJobManager({
      store,
      logger: pino({ level: 'silent' }),
      workers: 2,
      maxQueued: 10,
      streamBufferMessages: 100,
      jobTimeoutMs: 120_000,
      cancelGraceMs: 2_000,
      streamMaxBufferedBytes: 64 * 1024,
    });
    await manager.start();
    app = await buildApp({ config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2', MAX_EPOCHS: '1000000' }), manager, store, logger: false });
  });
  afterAll(async () => {
    await manager.stop({ deadlineMs: 5_000 });
    await app.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a client that stops reading stalls neither training nor another client, and still gets the final status', async () => {
    const host = await listen(app);
    const epochs = 200_000;
    const { body } = await request(app.server)
      .post('/v1/jobs')
      .send({ ...regressionSpec, training: { ...regressionSpec.training, epochs } })
      .expect(201);
    const slow = openStream(host, body.id);
    const fast = openStream(host, body.id);
    await Promise.all([slow, fast].map((s) => new Promise((r) => s.ws.once('open', r))));
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();

    // Training ends while the slow client still reads nothing: it did not wait for it.
    const fastResult = await fast.done;
    expect((await request(app.server).get(`/v1/jobs/${body.id}`).expect(200)).body.status).toBe('succeeded');
    socket.resume();
    const slowResult = await slow.done;

    const check = (result: typeof fastResult) => {
      const got = summarize(result).epochs.map((e) => e.epoch);
      const dropped = result.messages.filter((m) => m.type === 'dropped').reduce((n, m) => n + (m.count as number), 0);
      // Nothing arrives twice or out of order; what did not arrive was announced as dropped; the end is the status.
      expect(got).toEqual([...new Set(got)].sort((a, b) => a - b));
      expect(got.length + dropped).toBe(epochs);
      expect(summarize(result).last).toMatchObject({ type: 'status', status: 'succeeded', epoch: epochs });
      expect(got[got.length - 1]).toBe(epochs);
      return { received: got.length, dropped };
    };
    const fastCounts = check(fastResult);
    const slowCounts = check(slowResult);
    // ~11 MB of messages cannot all wait in the paused client's socket buffers (at most a few MB here).
    expect(slowCounts.dropped).toBeGreaterThan(0);
    console.log(`of ${epochs} epochs: fast client received ${fastCounts.received} (dropped ${fastCounts.dropped}), slow client received ${slowCounts.received} (dropped ${slowCounts.dropped})`);
  });
});

test('after a restart on the same data directory, finished jobs, metrics, checkpoints and datasets are all there', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-restart-'));
  const config = loadConfig({ DATA_DIR: dataDir, WORKERS: '1' });
  try {
    let app = await buildApp({ config, logger: false });
    let host = await listen(app);
    const ds = await request(app.server).post('/v1/datasets').send({ x: regressionSpec.data.x, y: regressionSpec.data.y }).expect(201);
    const { body } = await request(app.server)
      .post('/v1/jobs')
      .send({ ...regressionSpec, data: { kind: 'dataset', id: ds.body.id }, checkpointEvery: 20 })
      .expect(201);
    const before = await streamOf(host, body.id);
    expectRegressionLosses(summarize(before).epochs.map((e) => e.loss));
    const checkpointBefore = (await request(app.server).get(`/v1/jobs/${body.id}/checkpoint?format=json`).expect(200)).body;
    await app.close();

    app = await buildApp({ config, logger: false });
    host = await listen(app);
    expect((await request(app.server).get(`/v1/jobs/${body.id}`).expect(200)).body).toMatchObject({ status: 'succeeded', epoch: 60 });
    const metrics = await request(app.server).get(`/v1/jobs/${body.id}/metrics`).expect(200);
    expect(metrics.body.epochs.map((e: { loss: number }) => e.loss)).toEqual(summarize(before).epochs.map((e) => e.loss));
    expect((await request(app.server).get(`/v1/jobs/${body.id}/checkpoint?format=json`).expect(200)).body).toEqual(checkpointBefore);
    const kept = await request(app.server).get(`/v1/jobs/${body.id}/checkpoints`).expect(200);
    expect(kept.body.items.map((c: { epoch: number }) => c.epoch)).toEqual([20, 40, 60]);
    expect((await streamOf(host, body.id)).messages).toEqual(before.messages);
    await request(app.server).get(`/v1/datasets/${ds.body.id}`).expect(200);
    await request(app.server).post(`/v1/jobs/${body.id}/predictions`).send({ x: [[1]] }).expect(200);
    await app.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
