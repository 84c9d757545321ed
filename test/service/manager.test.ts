/**
 * The job runtime end to end below HTTP: the real Piscina pool running the compiled workers (dist/, `npm test`
 * builds first), the SQLite store in a temporary directory, streams through the hub.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kernels, loadSafetensors } from '../../src/engine/index.js';
import { ConflictError, InvalidInputError, NotFoundError, QueueFullError } from '../../src/service/jobs/errors.js';
import { StreamHub } from '../../src/service/jobs/hub.js';
import { createJobManager, type JobManagerOptions } from '../../src/service/jobs/manager.js';
import type { JobManager, JobRecord, JobStore, StreamMessage } from '../../src/service/jobs/types.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { jobSpecSchema, type JobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { Trainer } from '../../src/training/trainer.js';
import { prepareKernels } from '../../workers/kernels.js';

// Workers default to 'auto' (native when it loads, else 'simd'); both give the same bits, so in-process reference
// runs on 'simd' compare bitwise with what the pool produced.
beforeAll(() => prepareKernels('simd'));
/** On the plain-SIMD path the engine follows PyTorch's CPU order: the tutorial losses are PyTorch's to the bit. */
const bitExact = () => kernels.activeKernel() === 'simd';

const FIX = 'test/fixtures/pytorch';
const TEST_WORKER = fileURLToPath(new URL('./helpers/test-train-worker.mjs', import.meta.url));
const silent = { info() {}, warn() {}, error() {}, debug() {} };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'gradloom-mgr-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

type Manager = ReturnType<typeof createJobManager>;
function setup(over: Partial<JobManagerOptions> = {}, dataDir = tmp()): { manager: Manager; store: JobStore; dataDir: string } {
  const store = createSqliteStore({ dataDir });
  const manager = createJobManager({
    store,
    logger: silent,
    workers: 2,
    maxQueued: 100,
    streamBufferMessages: 1000,
    jobTimeoutMs: 60_000,
    cancelGraceMs: 2000,
    workerScript: TEST_WORKER,
    ...over,
  });
  let closed = false;
  cleanups.push(async () => {
    if (closed) return;
    closed = true;
    await manager.stop({ deadlineMs: 1000 });
    await store.close();
  });
  return { manager, store, dataDir };
}

const spec = (input: JobSpecInput): JobSpec => jobSpecSchema.parse(input);
const lrFixture = JSON.parse(readFileSync(`${FIX}/linear_regression.json`, 'utf8'));
const twoLayerFixture = JSON.parse(readFileSync(`${FIX}/two_layer_autograd.json`, 'utf8'));
const regressionJob = spec({
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: { kind: 'inline', x: lrFixture.x_train.map((v: number) => [v]), y: lrFixture.y_train.map((v: number) => [v]) },
  training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
  seed: 0,
});
const twoLayerJob = (epochs = 500): JobSpec =>
  spec({
    model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
    data: { kind: 'random', n: 64 },
    training: { epochs, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
    seed: 0,
  });
const smallJob = (over: Partial<JobSpecInput> = {}): JobSpec =>
  spec({
    model: { kind: 'two_layer_net', inputDim: 8, hiddenDim: 6, outputDim: 2 },
    data: { kind: 'random', n: 16 },
    training: { epochs: 40, loss: 'mse', optimizer: { kind: 'adam', lr: 0.01 } },
    seed: 5,
    ...over,
  });

/** A stream subscriber that records everything; `congested` makes it look like a socket that never drains. */
function recorder(opts: { congested?: boolean } = {}) {
  const messages: StreamMessage[] = [];
  let resolve!: () => void;
  const closed = new Promise<void>((r) => (resolve = r));
  return {
    messages,
    closed,
    epochs: () => messages.flatMap((m) => (m.type === 'epoch' ? [m] : [])),
    subscriber: {
      send(m: StreamMessage) {
        messages.push(JSON.parse(JSON.stringify(m)));
        return true;
      },
      close() {
        resolve();
      },
      bufferedAmount: () => (opts.congested ? 1 << 30 : 0),
    },
  };
}

async function follow(manager: JobManager, tenant: string, id: string, opts: { congested?: boolean } = {}) {
  const r = recorder(opts);
  const unsubscribe = await manager.subscribe(tenant, id, r.subscriber);
  expect(unsubscribe).not.toBeNull();
  await r.closed;
  return r;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const finished = (manager: JobManager, tenant: string, id: string) =>
  waitFor(`job ${id} to finish`, async () => {
    const j = await manager.get(tenant, id);
    return j && ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : null;
  });

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('JobManager with the real worker pool', () => {
  it('runs the regression tutorial: streamed losses == PyTorch, checkpoint named like PyTorch, predictions', async () => {
    const { manager, store } = setup();
    await manager.start();
    const { job, created } = await manager.submit('t1', regressionJob);
    expect(created).toBe(true);
    expect(job.status).toBe('queued');
    expect(job.spec.seed).toBe(0);
    const stream = await follow(manager, 't1', job.id);
    const epochs = stream.epochs();
    expect(epochs.map((e) => e.epoch)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    epochs.forEach((e, i) => expect(rel(e.loss, lrFixture.losses[i]), `epoch ${i + 1}`).toBeLessThan(1e-5));
    if (bitExact()) expect(epochs.map((e) => e.loss)).toEqual(lrFixture.losses);
    const last = stream.messages.at(-1)!;
    expect(last).toMatchObject({ type: 'status', status: 'succeeded', epoch: 60, epochs: 60, error: null });

    const done = (await manager.get('t1', job.id))!;
    expect(done).toMatchObject({ status: 'succeeded', epoch: 60, lastLoss: epochs[59]!.loss });
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();
    expect((await manager.metrics('t1', job.id))!.map((e) => e.loss)).toEqual(epochs.map((e) => e.loss));
    const ckpt = (await store.getCheckpoint(job.id))!;
    expect(ckpt.info.kind).toBe('final');
    expect(Object.keys(loadSafetensors(ckpt.safetensors).tensors)).toEqual(['weight', 'bias']);

    const y = await manager.predict('t1', job.id, lrFixture.x_train.map((v: number) => [v]));
    lrFixture.predictions.forEach((p: number | number[], i: number) =>
      expect(rel(y[i]![0]!, Array.isArray(p) ? p[0]! : p)).toBeLessThan(1e-5),
    );
    await expect(manager.predict('t1', job.id, [[1, 2, 3]])).rejects.toThrow(
      new InvalidInputError('x has 3 columns but the model expects inputDim=1'),
    );
    await expect(manager.predict('t1', job.id, [[1, 2, 3]])).rejects.toBeInstanceOf(InvalidInputError);
    await expect(manager.predict('other-tenant', job.id, [[1]])).rejects.toBeInstanceOf(NotFoundError);
    expect(await manager.get('other-tenant', job.id)).toBeNull();
    expect(await manager.metrics('other-tenant', job.id)).toBeNull();
    expect(await manager.subscribe('other-tenant', job.id, recorder().subscriber)).toBeNull();
  });

  it('runs the two-layer tutorial in a worker: 500 streamed losses match PyTorch within the README tolerances', async () => {
    const { manager } = setup();
    await manager.start();
    const { job } = await manager.submit('t1', twoLayerJob());
    const stream = await follow(manager, 't1', job.id);
    const losses = stream.epochs().map((e) => e.loss);
    expect(losses).toHaveLength(500);
    for (let i = 0; i <= 150; i++) expect(rel(losses[i]!, twoLayerFixture.losses[i]), `step ${i}`).toBeLessThan(1e-4);
    for (let i = 151; i < 500; i++) expect(rel(losses[i]!, twoLayerFixture.losses[i]), `step ${i}`).toBeLessThan(0.1);
    if (bitExact()) expect(losses).toEqual(twoLayerFixture.losses);
    expect(stream.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
    // A large prediction (64 rows x 101,000 multiply-adds) goes to the prediction worker; it must agree with the
    // in-process forward pass of the same checkpoint.
    const x = Array.from({ length: 64 }, (_, i) => Array.from({ length: 1000 }, (_, j) => Math.sin(i * 1000 + j)));
    const viaWorker = await manager.predict('t1', job.id, x);
    const inline = await manager.predict('t1', job.id, x.slice(0, 1)); // 1 row: inline
    expect(viaWorker).toHaveLength(64);
    viaWorker[0]!.forEach((v, j) => expect(rel(v, inline[0]![j]!)).toBeLessThan(1e-5));
  });

  it('replays missed epochs to a late subscriber, then continues live, with no gaps or duplicates', async () => {
    const { manager } = setup();
    await manager.start();
    const epochs = 1500;
    const { job } = await manager.submit('t1', twoLayerJob(epochs));
    await waitFor('some epochs', async () => ((await manager.get('t1', job.id))!.epoch >= 20 ? true : null));
    const late = [recorder(), recorder()];
    for (const r of late) expect(await manager.subscribe('t1', job.id, r.subscriber)).not.toBeNull();
    // Attached mid-training: what they receive crosses the replay/live boundary.
    expect((await manager.get('t1', job.id))!.status).toBe('running');
    await Promise.all(late.map((r) => r.closed));
    const afterEnd = await follow(manager, 't1', job.id);
    const metrics = (await manager.metrics('t1', job.id))!;
    for (const r of [...late, afterEnd]) {
      expect(r.epochs().map((e) => e.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
      expect(r.epochs().map((e) => e.loss)).toEqual(metrics.map((e) => e.loss));
      expect(r.messages.filter((m) => m.type === 'status')).toHaveLength(1);
      expect(r.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
    }
  });

  it('replays a long history in pages, in order, complete', async () => {
    const { manager } = setup();
    await manager.start();
    const { job } = await manager.submit('t1', smallJob({ training: { epochs: 4500, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } } }));
    await finished(manager, 't1', job.id);
    const r = await follow(manager, 't1', job.id);
    expect(r.epochs().map((e) => e.epoch)).toEqual(Array.from({ length: 4500 }, (_, i) => i + 1));
    expect(r.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded', epoch: 4500 });
  });

  it('paces a replay by its subscriber: the next page waits until the transport drains, and nothing is dropped', async () => {
    const { manager } = setup();
    await manager.start();
    const { job } = await manager.submit('t1', smallJob({ training: { epochs: 6000, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } } }));
    await finished(manager, 't1', job.id);
    // A transport that drains 8 KiB every 5 ms; each message costs 40 bytes in it.
    let buffered = 0;
    let peak = 0;
    const drain = setInterval(() => (buffered = Math.max(0, buffered - 8192)), 5);
    const r = recorder();
    const sub = {
      ...r.subscriber,
      send(m: StreamMessage) {
        buffered += 40;
        peak = Math.max(peak, buffered);
        return r.subscriber.send(m);
      },
      bufferedAmount: () => buffered,
    };
    try {
      expect(await manager.subscribe('t1', job.id, sub)).not.toBeNull();
      await r.closed;
    } finally {
      clearInterval(drain);
    }
    expect(r.epochs().map((e) => e.epoch)).toEqual(Array.from({ length: 6000 }, (_, i) => i + 1));
    expect(r.messages.some((m) => m.type === 'dropped')).toBe(false);
    // At most one page (500 epochs) on top of the 128 KiB drain threshold: the whole history (240 KB) is never queued.
    expect(peak).toBeLessThanOrEqual(128 * 1024 + 500 * 40 + 40);
  });

  it('cancels a running job within an epoch, a queued job at once, and refuses to cancel a finished one', async () => {
    const { manager, store } = setup({ workers: 1 });
    await manager.start();
    const running = (await manager.submit('t1', twoLayerJob(5000))).job;
    const queued = (await manager.submit('t1', smallJob())).job;
    await waitFor('running', async () => ((await manager.get('t1', running.id))!.epoch >= 5 ? true : null));
    const stream = recorder();
    await manager.subscribe('t1', running.id, stream.subscriber);

    const q = (await manager.cancel('t1', queued.id))!;
    expect(q.status).toBe('cancelled');
    await manager.cancel('t1', running.id);
    await stream.closed;
    const end = stream.messages.at(-1)!;
    expect(end).toMatchObject({ type: 'status', status: 'cancelled' });
    const j = await finished(manager, 't1', running.id);
    expect(j.status).toBe('cancelled');
    expect(j.epoch).toBeLessThan(5000);
    expect((await store.getEpochs(running.id)).length).toBe(j.epoch);
    await expect(manager.cancel('t1', running.id)).rejects.toBeInstanceOf(ConflictError);
    expect(await manager.cancel('t2', running.id)).toBeNull();
    // The pool still serves.
    const next = (await manager.submit('t1', smallJob())).job;
    expect((await finished(manager, 't1', next.id)).status).toBe('succeeded');
  });

  it('hard-stops a worker that ignores the cancel flag after the grace period, and enforces the time limit', async () => {
    const { manager } = setup({ workers: 1, cancelGraceMs: 200, jobTimeoutMs: 600 });
    await manager.start();
    const hung = (await manager.submit('t1', smallJob({ name: 'hang' }))).job;
    await waitFor('running', async () => ((await manager.get('t1', hung.id))!.status === 'running' ? true : null));
    await manager.cancel('t1', hung.id);
    expect((await finished(manager, 't1', hung.id)).status).toBe('cancelled');

    const slow = (await manager.submit('t1', smallJob({ name: 'hang' }))).job;
    const j = await finished(manager, 't1', slow.id);
    expect(j.status).toBe('failed');
    expect(j.error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/600 ms/) });
    const ok = (await manager.submit('t1', smallJob())).job;
    expect((await finished(manager, 't1', ok.id)).status).toBe('succeeded');
  });

  it('fails only the job whose worker crashes (exit, throw, uncaught error); the pool keeps serving', async () => {
    const { manager } = setup({ workers: 2 });
    await manager.start();
    const healthy = (await manager.submit('t1', twoLayerJob(200))).job;
    const crashes = await Promise.all(
      ['crash:exit', 'crash:throw', 'crash:uncaught'].map(async (name) => (await manager.submit('t1', smallJob({ name }))).job),
    );
    const results = await Promise.all(crashes.map((c) => finished(manager, 't1', c.id)));
    for (const r of results) {
      expect(r.status).toBe('failed');
      expect(r.error!.code).toBe('worker_crashed');
      expect(r.error!.message).toMatch(/^worker_crashed: /);
    }
    expect(results[0]!.error!.message).toMatch(/exited with code: 7/);
    expect(results[1]!.error!.message).toMatch(/boom from inside the worker/);
    expect(results[2]!.error!.message).toMatch(/uncaught error in the worker thread/);
    const h = await finished(manager, 't1', healthy.id);
    expect(h.status).toBe('succeeded');
    expect(h.epoch).toBe(200);
    const after = (await manager.submit('t1', smallJob())).job;
    expect((await finished(manager, 't1', after.id)).status).toBe('succeeded');
  });

  it('fails a diverging job with the epoch and loss and keeps the last finite checkpoint to predict with', async () => {
    const { manager, store } = setup();
    await manager.start();
    const { job } = await manager.submit(
      't1',
      spec({
        model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
        data: { kind: 'inline', x: [[1e3], [2e3]], y: [[1], [2]] },
        training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1 } },
        seed: 0,
      }),
    );
    const j = await finished(manager, 't1', job.id);
    expect(j.status).toBe('failed');
    expect(j.error!.code).toBe('diverged');
    expect(j.error!.message).toMatch(new RegExp(`^diverged at epoch ${j.epoch + 1} \\(loss=(NaN|Infinity)\\)$`));
    const ckpt = (await store.getCheckpoint(job.id))!;
    expect(ckpt.info).toMatchObject({ kind: 'periodic', epoch: j.epoch });
    const y = await manager.predict('t1', job.id, [[1]]);
    expect(Number.isFinite(y[0]![0])).toBe(true);
  });

  it('refuses to predict before there is a checkpoint, and with unknown jobs', async () => {
    const { manager } = setup();
    const { job } = await manager.submit('t1', smallJob()); // not started: stays queued
    await expect(manager.predict('t1', job.id, Array(1).fill(Array(8).fill(0)))).rejects.toBeInstanceOf(ConflictError);
    await expect(manager.predict('t1', 'nope', [[1]])).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps checkpointEvery snapshots, listable and loadable', async () => {
    const { manager, store } = setup();
    await manager.start();
    const { job } = await manager.submit('t1', smallJob({ checkpointEvery: 10 }));
    await finished(manager, 't1', job.id);
    const list = await store.listCheckpoints(job.id);
    expect(list.map((c) => `${c.kind}@${c.epoch}`)).toEqual(['periodic@10', 'periodic@20', 'periodic@30', 'final@40']);
    const at20 = (await store.getCheckpoint(job.id, 20))!;
    expect(Object.keys(loadSafetensors(at20.safetensors).tensors)).toEqual(['0.weight', '2.weight']);
  });

  it('queues beyond the workers, refuses beyond maxQueued with a Retry-After, and honours idempotency keys', async () => {
    const { manager } = setup({ workers: 1, maxQueued: 2 });
    // Not started: nothing is dispatched, so the queue fills.
    const a = await manager.submit('t1', smallJob(), 'key-a');
    await manager.submit('t1', smallJob());
    const err = await manager.submit('t1', smallJob()).catch((e) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err.code).toBe('queue_full');
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    expect(err.message).toMatch(/limit 2/);
    // A retried request is answered even when the queue is full.
    const again = await manager.submit('t1', smallJob(), 'key-a');
    expect(again).toMatchObject({ created: false, job: { id: a.job.id } });
    await expect(manager.submit('t1', smallJob({ seed: 99 }), 'key-a')).rejects.toBeInstanceOf(ConflictError);
    await manager.start();
    expect((await finished(manager, 't1', a.job.id)).status).toBe('succeeded');
  });

  it('estimates Retry-After from the running jobs\' progress', async () => {
    const { manager } = setup({ workers: 1, maxQueued: 1, retryAfterSeconds: 999 });
    await manager.start();
    const running = (await manager.submit('t1', twoLayerJob(20_000))).job;
    await waitFor('progress', async () => ((await manager.get('t1', running.id))!.epoch >= 20 ? true : null));
    const waiting = (await manager.submit('t1', smallJob())).job;
    const err = await manager.submit('t1', smallJob()).catch((e) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    // 20,000 epochs of the tutorial net take far more than a second and (at any plausible speed) the estimate is
    // capped at a minute; the configured fallback (999) is not used once there is progress.
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(60);
    await manager.cancel('t1', waiting.id);
    await manager.cancel('t1', running.id);
    await finished(manager, 't1', running.id);
  });

  it('shares the workers fairly between tenants: a burst from one does not hold back another', async () => {
    const { manager } = setup({ workers: 1 });
    const burst = [];
    for (let i = 0; i < 3; i++) burst.push((await manager.submit('busy', smallJob({ seed: i }))).job);
    const other = (await manager.submit('quiet', smallJob())).job;
    await manager.start();
    const done = await Promise.all([...burst, other].map((j) => finished(manager, j.tenant, j.id)));
    const order = [...done].sort((a, b) => a.startedAt!.localeCompare(b.startedAt!)).map((j) => j.id);
    // FIFO would start the quiet tenant's job last; fair share starts it right after the first burst job.
    expect(order.indexOf(other.id)).toBe(1);
  });

  it('validates data against the model at submit time, including datasets', async () => {
    const { manager, store } = setup();
    await manager.start();
    await expect(
      manager.submit('t1', spec({ ...regressionJob, data: { kind: 'inline', x: [[1, 2]], y: [[1]] } })),
    ).rejects.toThrow(/inputDim=1/);
    await expect(manager.submit('t1', spec({ ...regressionJob, data: { kind: 'dataset', id: 'missing' } }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await store.createDataset({
      id: 'ds-1', tenant: 't1', name: 'toy', rows: 15, inputDim: 1, outputDim: 1, columns: null,
      createdAt: new Date().toISOString(), bytes: 0,
      x: lrFixture.x_train.map((v: number) => [v]), y: lrFixture.y_train.map((v: number) => [v]),
    });
    // Another tenant's dataset does not exist for t2.
    await expect(manager.submit('t2', spec({ ...regressionJob, data: { kind: 'dataset', id: 'ds-1' } }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    const { job } = await manager.submit('t1', spec({ ...regressionJob, data: { kind: 'dataset', id: 'ds-1' } }));
    await finished(manager, 't1', job.id);
    const losses = (await manager.metrics('t1', job.id))!.map((e) => e.loss);
    losses.forEach((l, i) => expect(rel(l, lrFixture.losses[i]), `epoch ${i + 1}`).toBeLessThan(1e-5));
  });

  it('runs many concurrent jobs to the right results', async () => {
    const { manager } = setup({ workers: 2 });
    await manager.start();
    const seeds = Array.from({ length: 12 }, (_, i) => i);
    const jobs = await Promise.all(seeds.map(async (seed) => (await manager.submit(`tenant-${seed % 3}`, smallJob({ seed }))).job));
    const streams = await Promise.all(jobs.map((j) => follow(manager, j.tenant, j.id)));
    for (const [i, j] of jobs.entries()) {
      const expected = Trainer.create(j.spec);
      const losses: number[] = [];
      while (!expected.done) losses.push(expected.runEpoch());
      expect(streams[i]!.epochs().map((e) => e.loss)).toEqual(losses);
      expect(streams[i]!.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
    }
    const listed = await manager.list({ tenant: 'tenant-0', limit: 100 });
    expect(listed.items.map((j: JobRecord) => j.id).sort()).toEqual(jobs.filter((j) => j.tenant === 'tenant-0').map((j) => j.id).sort());
  });

  it('a slow subscriber gets a dropped notice and the latest epochs; training and other subscribers are unaffected', async () => {
    const { manager } = setup({ streamBufferMessages: 50 });
    await manager.start();
    const { job } = await manager.submit('t1', twoLayerJob(400));
    const [slow, fast] = await Promise.all([follow(manager, 't1', job.id, { congested: true }), follow(manager, 't1', job.id)]);
    expect(fast.epochs()).toHaveLength(400);
    const dropped = slow.messages.filter((m) => m.type === 'dropped');
    expect(dropped).toHaveLength(1);
    const kept = slow.epochs();
    expect(kept.length).toBeLessThanOrEqual(50);
    expect(kept.at(-1)!.epoch).toBe(400);
    expect(dropped[0]!.type === 'dropped' && dropped[0]!.count + kept.length).toBe(400);
    expect(slow.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
    expect((await manager.get('t1', job.id))!.status).toBe('succeeded');
  });

  it('deletes a running job: stopped, rows and checkpoints gone', async () => {
    const { manager, store } = setup();
    await manager.start();
    const { job } = await manager.submit('t1', twoLayerJob(5000));
    await waitFor('running', async () => ((await manager.get('t1', job.id))!.epoch >= 3 ? true : null));
    expect(await manager.delete('t2', job.id)).toBe(false);
    expect(await manager.delete('t1', job.id)).toBe(true);
    expect(await manager.get('t1', job.id)).toBeNull();
    expect(await store.getEpochs(job.id)).toEqual([]);
    expect(await store.listCheckpoints(job.id)).toEqual([]);
  });

  for (const mode of ['drain', 'kill'] as const) {
    it(`resumes an interrupted job after a restart (${mode}) and ends with the same weights as an uninterrupted run`, async () => {
      const epochs = 1200;
      const first = setup({ workers: 1, resumeSnapshotMs: mode === 'kill' ? 30 : 0 });
      await first.manager.start();
      const { job } = await first.manager.submit('t1', twoLayerJob(epochs));
      await waitFor('progress', async () => ((await first.manager.get('t1', job.id))!.epoch >= 100 ? true : null));
      // drain: the worker snapshots on request; kill: the thread is terminated at once and the job resumes from
      // its last periodic crash-recovery snapshot.
      await first.manager.stop({ deadlineMs: mode === 'drain' ? 10_000 : 0 });
      await first.store.close();
      const interrupted = (await (async () => {
        const s = createSqliteStore({ dataDir: first.dataDir });
        const j = await s.getJob('t1', job.id);
        const resume = await s.getResumeState(job.id);
        await s.close();
        return { j, resume };
      })())!;
      expect(['queued', 'running']).toContain(interrupted.j!.status);
      expect(interrupted.j!.epoch).toBeLessThan(epochs);
      expect(interrupted.resume).not.toBeNull();
      if (mode === 'drain') expect(interrupted.resume!.epoch).toBe(interrupted.j!.epoch);

      const second = setup({ workers: 1 }, first.dataDir);
      await second.manager.start();
      const done = await finished(second.manager, 't1', job.id);
      expect(done.status).toBe('succeeded');
      expect(done.epoch).toBe(epochs);
      const metrics = (await second.manager.metrics('t1', job.id))!;
      expect(metrics.map((e) => e.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));

      const straight = Trainer.create(done.spec);
      const losses: number[] = [];
      while (!straight.done) losses.push(straight.runEpoch());
      expect(metrics.map((e) => e.loss)).toEqual(losses);
      const ckpt = (await second.store.getCheckpoint(job.id))!;
      expect(Buffer.from(ckpt.safetensors).equals(Buffer.from(straight.saveModel()))).toBe(true);
    });
  }

  it('refuses new jobs while stopping', async () => {
    const { manager } = setup();
    await manager.start();
    await manager.stop({ deadlineMs: 100 });
    await expect(manager.submit('t1', smallJob())).rejects.toMatchObject({ code: 'shutting_down' });
  });

  it('fails a job with store_error when a store write fails mid-training: no gaps, and recorded once the store recovers', async () => {
    const dataDir = tmp();
    const real = createSqliteStore({ dataDir });
    let down = false;
    const outage = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    // The store breaks on the third batch of epochs and stays broken (also for status writes) until `down` clears.
    let batches = 0;
    const store = new Proxy(real, {
      get(target, prop) {
        if (prop === 'appendEpochs') {
          return (...a: Parameters<JobStore['appendEpochs']>) => {
            if (++batches === 3) down = true;
            return down ? outage() : target.appendEpochs(...a);
          };
        }
        if (prop === 'updateRun') return (...a: Parameters<JobStore['updateRun']>) => (down ? outage() : target.updateRun(...a));
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as JobStore;
    const manager = createJobManager({
      store, logger: silent, workers: 1, maxQueued: 10, streamBufferMessages: 100_000,
      jobTimeoutMs: 60_000, cancelGraceMs: 2000, workerScript: TEST_WORKER,
    });
    cleanups.push(async () => {
      await manager.stop({ deadlineMs: 1000 });
      await real.close();
    });
    await manager.start();
    const { job } = await manager.submit('t1', smallJob({ training: { epochs: 200_000, loss: 'mse', optimizer: { kind: 'adam', lr: 0.01 } } }));
    const r = await follow(manager, 't1', job.id);
    const final = r.messages.at(-1)!;
    expect(final).toMatchObject({ type: 'status', status: 'failed', error: { code: 'store_error' } });
    if (final.type !== 'status') throw new Error('unreachable');
    expect(final.error!.message).toMatch(/^store_error: could not record epochs \d+-\d+: SQLITE_FULL: database or disk is full; .*no gaps/);
    // Everything streamed was recorded, in order, and nothing after the hole was.
    const streamed = r.epochs().map((e) => e.epoch);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed).toEqual(Array.from({ length: streamed.length }, (_, i) => i + 1));
    expect(streamed.at(-1)).toBeLessThan(200_000);
    expect(final.epoch).toBe(streamed.at(-1));
    // The store was down when the job failed; the failure is written once it recovers.
    expect((await real.getJob('t1', job.id))!.status).toBe('running');
    down = false;
    const recorded = await waitFor('the failure to be recorded', async () => {
      const j = await real.getJob('t1', job.id);
      return j?.status === 'failed' ? j : null;
    });
    expect(recorded.error).toEqual(final.error);
    expect(recorded.epoch).toBe(final.epoch);
    const history = await real.getEpochs(job.id, 0, 1_000_000);
    expect(history.map((e) => e.epoch)).toEqual(streamed);
  });

  it('a job whose worker exceeds its heap limit (resourceLimits) fails alone; the pool keeps serving', async () => {
    const { manager } = setup({ workers: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    await manager.start();
    const { job: hog } = await manager.submit('t1', smallJob({ name: 'oom' }));
    const { job: next } = await manager.submit('t1', smallJob());
    const failed = await finished(manager, 't1', hog.id);
    expect(failed.status).toBe('failed');
    expect(failed.error!.code).toBe('worker_crashed');
    expect(failed.error!.message).toMatch(/^worker_crashed: .*memory limit/);
    expect((await finished(manager, 't1', next.id)).status).toBe('succeeded');
  });

  it('is ready (for /readyz) only between start and stop, and only while the store answers', async () => {
    const { manager, store } = setup();
    expect(await manager.ready!()).toEqual({ ready: false, reason: 'the job runtime has not started' });
    await manager.start();
    expect(await manager.ready!()).toEqual({ ready: true });
    const ping = store.ping;
    store.ping = async () => Promise.reject(new Error('database is locked'));
    expect(await manager.ready!()).toEqual({ ready: false, reason: 'store query failed: database is locked' });
    store.ping = ping;
    expect(await manager.ready!()).toEqual({ ready: true });
    await manager.stop({ deadlineMs: 100 });
    expect(await manager.ready!()).toEqual({ ready: false, reason: 'the job runtime is stopping' });
  });
});

describe('StreamHub (slow-consumer policy, replay boundary)', () => {
  function fakeSocket() {
    const got: StreamMessage[] = [];
    let buffered = 0;
    let closed = false;
    return {
      got,
      setBuffered: (n: number) => (buffered = n),
      isClosed: () => closed,
      sub: {
        send: (m: StreamMessage) => (got.push(m), true),
        close: () => void (closed = true),
        bufferedAmount: () => buffered,
      },
    };
  }
  const ep = (epoch: number) => ({ type: 'epoch' as const, epoch, loss: 1 / epoch });
  const status = { type: 'status' as const, status: 'succeeded' as const, epoch: 0, epochs: 0, lastLoss: null, error: null };

  it('merges history and live messages at the boundary without gaps or duplicates', async () => {
    const hub = new StreamHub({ maxBacklog: 10 });
    const s = fakeSocket();
    const handle = hub.attach('j', s.sub);
    hub.publishEpochs('j', [ep(3), ep(4)]); // live, while the history (1..3) is being read
    hub.completeReplay(handle, [1, 2, 3].map((e) => ({ ...ep(e) })), null);
    hub.publishEpochs('j', [ep(5)]);
    hub.publishFinal('j', status);
    expect(s.got.map((m) => (m.type === 'epoch' ? m.epoch : m.type))).toEqual([1, 2, 3, 4, 5, 'status']);
    expect(s.isClosed()).toBe(true);
    expect(hub.subscriberCount('j')).toBe(0);
  });

  it('holds a congested subscriber at most maxBacklog behind, then sends one dropped notice and resumes live', async () => {
    const hub = new StreamHub({ maxBacklog: 3, maxBufferedBytes: 100, pollMs: 5 });
    const slow = fakeSocket();
    const fast = fakeSocket();
    hub.completeReplay(hub.attach('j', slow.sub), [], null);
    hub.completeReplay(hub.attach('j', fast.sub), [], null);
    hub.publishEpochs('j', [ep(1)]);
    slow.setBuffered(1000); // the slow peer stops reading
    hub.publishEpochs('j', [2, 3, 4, 5, 6, 7].map(ep));
    expect(slow.got.map((m) => m.type === 'epoch' && m.epoch)).toEqual([1]);
    slow.setBuffered(0); // it drains: the poller catches up without waiting for the next publish
    await new Promise((r) => setTimeout(r, 30));
    expect(slow.got).toEqual([
      { ...ep(1) },
      { type: 'dropped', count: 3, reason: 'slow_consumer' },
      { ...ep(5) },
      { ...ep(6) },
      { ...ep(7) },
    ]);
    hub.publishEpochs('j', [ep(8)]);
    hub.publishFinal('j', status);
    expect(slow.got.slice(-2).map((m) => m.type)).toEqual(['epoch', 'status']);
    expect(fast.got.filter((m) => m.type === 'epoch')).toHaveLength(8);
    expect(fast.got.some((m) => m.type === 'dropped')).toBe(false);
    hub.shutdown();
  });

  it('stops feeding a subscriber whose send fails', async () => {
    const hub = new StreamHub({ maxBacklog: 3 });
    let sends = 0;
    let closed = false;
    hub.completeReplay(
      hub.attach('j', { send: () => (sends++, false), close: () => void (closed = true), bufferedAmount: () => 0 }),
      [],
      null,
    );
    hub.publishEpochs('j', [ep(1), ep(2)]);
    expect(sends).toBe(1);
    expect(closed).toBe(true);
    expect(hub.subscriberCount('j')).toBe(0);
  });
});
