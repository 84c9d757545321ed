import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { makeTestApp, regressionSpec, twoLayerSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';
import { inlineSummary } from '../helpers/inline.js';

let t: (TestApp & { fake: FakeJobManager | null }) | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('POST /v1/jobs', () => {
  test('201 with the normalised spec, links and Location; defaults filled in', async () => {
    t = await makeTestApp({ fake: { epochDelayMs: 5 } });
    t.fake!.paused = true;
    const res = await request(t.app.server).post('/v1/jobs').send(twoLayerSpec).expect(201);
    const id = res.body.id as string;
    expect(res.headers.location).toBe(`/v1/jobs/${id}`);
    expect(res.body.status).toBe('queued');
    expect(res.body.spec.model).toEqual({ ...twoLayerSpec.model, bias: false, init: 'randn' });
    expect(res.body.spec.training.optimizer).toEqual({ kind: 'sgd', lr: 1e-6, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });
    expect(res.body.spec.seed).toBe(0);
    expect(res.body.links).toEqual({
      self: `/v1/jobs/${id}`,
      stream: `/v1/jobs/${id}/stream`,
      metrics: `/v1/jobs/${id}/metrics`,
      checkpoint: `/v1/jobs/${id}/checkpoint`,
      checkpoints: `/v1/jobs/${id}/checkpoints`,
      predictions: `/v1/jobs/${id}/predictions`,
    });
    expect(res.body).not.toHaveProperty('tenant');
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();
  });

  test('400 validation_error: every problem with a dotted path and a message saying what to send', async () => {
    t = await makeTestApp();
    const bad = clone(regressionSpec) as Record<string, any>;
    bad.training.optimizer = { kind: 'sgd', lr: -1 };
    bad.training.epochs = 2.5;
    bad.model.kind = 'transformer';
    bad.colour = 'blue';
    const res = await request(t.app.server).post('/v1/jobs').send(bad).expect(400);
    expect(res.body.error).toBe('validation_error');
    const byPath = Object.fromEntries(res.body.issues.map((i: { path: string; message: string }) => [i.path, i.message]));
    expect(byPath['training.optimizer.lr']).toBe('must be > 0, got number -1');
    expect(byPath['training.epochs']).toBe('must be an integer, got number 2.5');
    expect(byPath['model.kind']).toBe('must be one of "two_layer_net", "linear_regression", got string "transformer"');
    expect(byPath['colour']).toBe('unknown field "colour"');
    expect(res.body.message).toContain('training.');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js)|node_modules/);
  });

  test('a missing field says it is required', async () => {
    t = await makeTestApp();
    const bad = clone(regressionSpec) as Record<string, any>;
    delete bad.training.loss;
    const res = await request(t.app.server).post('/v1/jobs').send(bad).expect(400);
    expect(res.body.issues).toEqual([{ path: 'training.loss', message: 'is required (one of "mse", "sse")' }]);
  });

  test('inline rows: x and y row counts, and each row width, with the row index named', async () => {
    t = await makeTestApp();
    const bad = clone(regressionSpec) as Record<string, any>;
    bad.data.x[3] = [1, 2];
    bad.data.y.pop();
    const res = await request(t.app.server).post('/v1/jobs').send(bad).expect(400);
    expect(res.body.issues).toEqual([
      { path: 'data.y', message: 'x has 15 rows but y has 14; they must have the same number of rows' },
      { path: 'data.x.3', message: 'x[3] has 2 values but model.inputDim is 1' },
    ]);
  });

  test('limits are named with their variable: dims, parameters, epochs, rows', async () => {
    t = await makeTestApp({ overrides: { limits: { maxInputDim: 500, maxEpochs: 100, maxParameters: 1000, maxDatasetRows: 10 } } });
    const res = await request(t.app.server).post('/v1/jobs').send(twoLayerSpec).expect(400);
    const messages = res.body.issues.map((i: { path: string; message: string }) => `${i.path}: ${i.message}`);
    expect(messages).toEqual([
      'model.inputDim: inputDim is 1000, above the limit of 500 (MAX_INPUT_DIM)',
      'model: the parameter count is 101000, above the limit of 1000 (MAX_PARAMETERS)',
      'training.epochs: epochs is 500, above the limit of 100 (MAX_EPOCHS)',
      'data.n: n (rows) is 64, above the limit of 10 (MAX_DATASET_ROWS)',
    ]);
  });

  test('a spec needing gigabytes is refused before it runs, with the estimate and the limit', async () => {
    t = await makeTestApp();
    const huge = clone(twoLayerSpec) as Record<string, any>;
    huge.model = { kind: 'two_layer_net', inputDim: 10_000, hiddenDim: 1000, outputDim: 1000 };
    huge.data = { kind: 'random', n: 1_000_000 };
    const res = await request(t.app.server).post('/v1/jobs').send(huge).expect(400);
    expect(res.body.issues).toHaveLength(1);
    const { path, message } = res.body.issues[0];
    expect(path).toBe('model');
    // 4 bytes x (1e6 x 11000 data + 11e6 x 2 params + 1e6 x (10000 + 4000 + 3000) activations)
    const estimate = 4 * (1e6 * 11_000 + 11_000_000 * 2 + 1e6 * 17_000);
    expect(message).toContain(`(${estimate} bytes)`);
    expect(message).toContain('MAX_JOB_MEMORY_BYTES=1073741824');
    expect(message).toMatch(/estimated 104\.4 GiB/);
    expect(await t.store.listJobs({ tenant: 'default', limit: 10 })).toEqual({ items: [], nextCursor: null });
  });

  test('checkpointEvery that would keep too many checkpoints names the limit', async () => {
    t = await makeTestApp();
    const res = await request(t.app.server)
      .post('/v1/jobs')
      .send({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 1000 }, checkpointEvery: 1 })
      .expect(400);
    expect(res.body.issues[0].path).toBe('checkpointEvery');
    expect(res.body.issues[0].message).toContain('MAX_CHECKPOINTS_PER_JOB');
    expect(res.body.issues[0].message).toContain('use checkpointEvery >= 10');
  });

  test('Idempotency-Key: 201, then 200 with the same job; a different body with the key is 422', async () => {
    t = await makeTestApp();
    t.fake!.paused = true;
    const spec = { ...regressionSpec, seed: undefined };
    const first = await request(t.app.server).post('/v1/jobs').set('Idempotency-Key', 'k-1').send(spec).expect(201);
    const again = await request(t.app.server).post('/v1/jobs').set('Idempotency-Key', 'k-1').send(spec).expect(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await request(t.app.server)
      .post('/v1/jobs')
      .set('Idempotency-Key', 'k-1')
      .send({ ...spec, training: { ...spec.training, epochs: 61 } })
      .expect(422);
    expect(other.body).toMatchObject({ error: 'idempotency_key_reused', jobId: first.body.id });
    expect(other.body.message).toContain('k-1');
    const list = await request(t.app.server).get('/v1/jobs').expect(200);
    expect(list.body.items).toHaveLength(1);
  });

  test('body errors: invalid JSON 400, too large 413 naming MAX_BODY_BYTES, wrong content type 415', async () => {
    t = await makeTestApp({ overrides: { limits: { maxBodyBytes: 2048 } } });
    const badJson = await request(t.app.server).post('/v1/jobs').set('content-type', 'application/json').send('{"model":').expect(400);
    expect(badJson.body.error).toBe('invalid_json');
    const big = clone(regressionSpec) as Record<string, any>;
    big.data.x = Array.from({ length: 500 }, () => [1]);
    big.data.y = Array.from({ length: 500 }, () => [1]);
    const tooLarge = await request(t.app.server).post('/v1/jobs').send(big).expect(413);
    expect(tooLarge.body).toEqual({ error: 'payload_too_large', message: 'request body is larger than the limit of 2048 bytes (MAX_BODY_BYTES)', limit: 2048 });
    const xml = await request(t.app.server).post('/v1/jobs').set('content-type', 'application/xml').send('<job/>').expect(415);
    expect(xml.body.error).toBe('unsupported_media_type');
  });

  test('a full queue is 429 with Retry-After', async () => {
    t = await makeTestApp({ fake: { maxQueued: 1 } });
    t.fake!.paused = true;
    await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    const res = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.body).toMatchObject({ error: 'queue_full', retryAfterSeconds: 3 });
    expect(res.body.message).toContain('MAX_QUEUED_JOBS');
  });

  test('while draining, new jobs get 503 shutting_down', async () => {
    t = await makeTestApp();
    t.app.gradloom.state = 'draining';
    const res = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(503);
    expect(res.body.error).toBe('shutting_down');
    expect(res.headers['retry-after']).toBeDefined();
  });
});

describe('reading jobs', () => {
  test('GET /v1/jobs/:id, and 404 with the one error shape for unknown ids', async () => {
    t = await makeTestApp();
    const created = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    const done = await waitFor(async () => {
      const r = await request(t!.app.server).get(`/v1/jobs/${created.body.id}`).expect(200);
      return r.body.status === 'succeeded' && r.body;
    }, 'the job to succeed');
    expect(done).toMatchObject({ epoch: 60, epochs: 60, lastLoss: 1 / 60, error: null });
    expect(Date.parse(done.startedAt)).toBeLessThanOrEqual(Date.parse(done.finishedAt));
    const missing = await request(t.app.server).get('/v1/jobs/j_nope').expect(404);
    expect(missing.body).toEqual({ error: 'not_found', message: 'job j_nope not found' });
  });

  test('metrics: the whole loss history; 404 for unknown ids', async () => {
    t = await makeTestApp();
    const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    await waitFor(async () => (await t!.manager.get('default', body.id))?.status === 'succeeded', 'success');
    const res = await request(t.app.server).get(`/v1/jobs/${body.id}/metrics`).expect(200);
    expect(res.body.jobId).toBe(body.id);
    expect(res.body.epochs.map((e: { epoch: number }) => e.epoch)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(res.body.epochs.map((e: { loss: number }) => e.loss)).toEqual(Array.from({ length: 60 }, (_, i) => 1 / (i + 1)));
    for (const e of res.body.epochs) expect(e.elapsedMs).toBeGreaterThanOrEqual(0);
    const tail = await request(t.app.server).get(`/v1/jobs/${body.id}/metrics?from=58`).expect(200);
    expect(tail.body.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([58, 59, 60]);
    await request(t.app.server).get(`/v1/jobs/${body.id}/metrics?from=x`).expect(400);
    await request(t.app.server).get('/v1/jobs/j_missing/metrics').expect(404);
  });

  test('list: cursor pagination covers every job once, newest first; status filter; bad limit is 400', async () => {
    t = await makeTestApp();
    t.fake!.paused = true;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await request(t.app.server).post('/v1/jobs').send({ ...regressionSpec, name: `job ${i}` }).expect(201)).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await request(t.app.server)
        .get('/v1/jobs')
        .query({ limit: 3, ...(cursor ? { cursor } : {}) })
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items.map((j: { id: string }) => j.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    // Jobs (listed or read) summarise inline data; GET /data has the rows, exactly as sent.
    const first = (await request(t.app.server).get('/v1/jobs?limit=1').expect(200)).body.items[0];
    expect(first.spec.data).toEqual(inlineSummary(regressionSpec.data));
    expect(first.spec.model).toEqual(regressionSpec.model);
    expect((await request(t.app.server).get(`/v1/jobs/${first.id}`).expect(200)).body.spec.data).toEqual(inlineSummary(regressionSpec.data));
    const rows = (await request(t.app.server).get(`/v1/jobs/${first.id}/data`).expect(200)).body;
    expect(rows).toEqual({ part: 'data', total: 15, offset: 0, x: regressionSpec.data.x, y: regressionSpec.data.y, nextOffset: null });

    await request(t.app.server).post(`/v1/jobs/${ids[2]}/cancel`).expect(200);
    const cancelled = await request(t.app.server).get('/v1/jobs?status=cancelled').expect(200);
    expect(cancelled.body.items.map((j: { id: string }) => j.id)).toEqual([ids[2]]);
    expect(cancelled.body.nextCursor).toBeNull();

    const bad = await request(t.app.server).get('/v1/jobs?limit=0&status=done').expect(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.limit', 'query.status']);
  });
});

describe('cancel and delete', () => {
  test('cancel a queued job; again is a no-op; a finished job is 409; unknown is 404', async () => {
    t = await makeTestApp();
    t.fake!.paused = true;
    const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    const res = await request(t.app.server).post(`/v1/jobs/${body.id}/cancel`).expect(200);
    expect(res.body.status).toBe('cancelled');
    expect((await request(t.app.server).post(`/v1/jobs/${body.id}/cancel`).expect(200)).body.status).toBe('cancelled');
    t.fake!.resume();
    const done = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    await waitFor(async () => (await t!.manager.get('default', done.body.id))?.status === 'succeeded', 'success');
    const conflict = await request(t.app.server).post(`/v1/jobs/${done.body.id}/cancel`).expect(409);
    expect(conflict.body).toEqual({ error: 'job_finished', message: `job ${done.body.id} already succeeded; there is nothing to cancel` });
    await request(t.app.server).post('/v1/jobs/j_x/cancel').expect(404);
  });

  test('cancel a running job: it stops before its last epoch', async () => {
    t = await makeTestApp({ fake: { epochDelayMs: 5 } });
    const { body } = await request(t.app.server).post('/v1/jobs').send(twoLayerSpec).expect(201);
    await waitFor(async () => ((await t!.manager.get('default', body.id))?.epoch ?? 0) >= 2, 'two epochs');
    await request(t.app.server).post(`/v1/jobs/${body.id}/cancel`).expect(200);
    const job = await waitFor(async () => {
      const j = await t!.manager.get('default', body.id);
      return j?.status === 'cancelled' && j;
    }, 'cancellation');
    expect(job.epoch).toBeLessThan(500);
  });

  test('delete: 409 while active, 204 when finished, then 404', async () => {
    t = await makeTestApp();
    t.fake!.paused = true;
    const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    const active = await request(t.app.server).delete(`/v1/jobs/${body.id}`).expect(409);
    expect(active.body.error).toBe('job_active');
    expect(active.body.message).toContain(`POST /v1/jobs/${body.id}/cancel`);
    await request(t.app.server).post(`/v1/jobs/${body.id}/cancel`).expect(200);
    const deleted = await request(t.app.server).delete(`/v1/jobs/${body.id}`).expect(204);
    expect(deleted.text).toBe('');
    await request(t.app.server).get(`/v1/jobs/${body.id}`).expect(404);
    await request(t.app.server).delete(`/v1/jobs/${body.id}`).expect(404);
  });
});

describe('cross-cutting', () => {
  test('x-request-id is honoured when sane and generated otherwise', async () => {
    t = await makeTestApp();
    const mine = await request(t.app.server).get('/healthz').set('x-request-id', 'abc-123').expect(200);
    expect(mine.headers['x-request-id']).toBe('abc-123');
    const hostile = await request(t.app.server).get('/healthz').set('x-request-id', 'a b <script>').expect(200);
    expect(hostile.headers['x-request-id']).toMatch(/^req_[0-9a-f-]{36}$/);
  });

  test('no body with content-type json is no body; an over-long id is a 400; a non-object body says so', async () => {
    t = await makeTestApp();
    t.fake!.paused = true;
    const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
    await request(t.app.server).post(`/v1/jobs/${body.id}/cancel`).set('content-type', 'application/json').expect(200);
    await request(t.app.server).delete(`/v1/jobs/${body.id}`).set('content-type', 'application/json').expect(204);
    const long = await request(t.app.server).get(`/v1/jobs/${'x'.repeat(300)}`).expect(400);
    expect(long.body.issues).toEqual([{ path: 'params.id', message: 'must be at most 128 characters long' }]);
    const empty = await request(t.app.server).post('/v1/jobs').set('content-type', 'application/json').expect(400);
    expect(empty.body.issues).toEqual([{ path: '', message: 'the body must be a JSON object, got nothing' }]);
    const array = await request(t.app.server).post('/v1/jobs').send([1]).expect(400);
    expect(array.body.message).toBe('the body must be an object, got an array of 1');
    const proto = await request(t.app.server).post('/v1/jobs').set('content-type', 'application/json').send('{"__proto__": {"admin": true}}').expect(400);
    // Valid JSON with a refused key (issue 11: it used to be reported as "not valid JSON").
    expect(proto.body.error).toBe('validation_error');
    expect(proto.body.issues).toEqual([
      { path: '__proto__', message: 'is not allowed: "__proto__" keys are refused, they could change an object\'s prototype; remove it' },
    ]);
  });

  test('unknown routes answer 404 in the error shape', async () => {
    t = await makeTestApp();
    const res = await request(t.app.server).get('/v1/nothing').expect(404);
    expect(res.body).toEqual({ error: 'not_found', message: 'no route GET /v1/nothing; see /docs for the API' });
  });

  test('many concurrent jobs all finish with their full histories', async () => {
    t = await makeTestApp();
    const ids = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => (await request(t!.app.server).post('/v1/jobs').send({ ...regressionSpec, name: `c${i}` }).expect(201)).body.id as string),
    );
    expect(new Set(ids).size).toBe(40);
    for (const id of ids) {
      await waitFor(async () => (await t!.manager.get('default', id))?.status === 'succeeded', `job ${id}`);
      const m = await request(t.app.server).get(`/v1/jobs/${id}/metrics`).expect(200);
      expect(m.body.epochs).toHaveLength(60);
    }
  });
});

describe('logs', () => {
  test('request ids and job ids are in the log lines', async () => {
    const { Writable } = await import('node:stream');
    const pino = (await import('pino')).default;
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    const { buildApp } = await import('../../src/service/app.js');
    const { loadConfig } = await import('../../src/service/config.js');
    t = await makeTestApp();
    const app = await buildApp({ config: loadConfig({ WORKERS: '1' }), manager: t.manager, store: t.store, logger: pino({ level: 'debug' }, sink) });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/jobs', payload: regressionSpec, headers: { 'x-request-id': 'trace-42' } });
      expect(res.statusCode).toBe(201);
      const id = res.json().id as string;
      await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: { 'x-request-id': 'trace-43' } });
      expect(lines.find((l) => l.msg === 'job submitted')).toMatchObject({ reqId: 'trace-42', jobId: id });
      // The request's own line (a routine read, so at debug) carries the job id too.
      expect(lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith(`GET /v1/jobs/${id} 200 `) && l.reqId === 'trace-43')).toMatchObject({ jobId: id, level: 20 });
    } finally {
      await app.close();
    }
  });
});
