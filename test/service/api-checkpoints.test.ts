import request from 'supertest';
import { afterEach, expect, test } from 'vitest';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';
import { makeTestApp, regressionSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';

let t: (TestApp & { fake: FakeJobManager | null }) | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

async function finishedJob(spec: object = regressionSpec): Promise<string> {
  const { body } = await request(t!.app.server).post('/v1/jobs').send(spec).expect(201);
  for (let i = 0; i < 500; i++) {
    if ((await t!.manager.get('default', body.id))?.status === 'succeeded') return body.id;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('job did not finish');
}

/** supertest buffers binary bodies only when told to. */
const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

test('the final checkpoint as safetensors bytes with a filename, and as JSON', async () => {
  t = await makeTestApp();
  const id = await finishedJob();
  const res = await request(t.app.server).get(`/v1/jobs/${id}/checkpoint`).buffer(true).parse(binary).expect(200);
  expect(res.headers['content-type']).toBe('application/octet-stream');
  expect(res.headers['content-disposition']).toBe(`attachment; filename="${id}.safetensors"`);
  const file = parseSafetensors(new Uint8Array(res.body as Buffer));
  expect(Object.keys(file.tensors)).toEqual(['weight', 'bias']);
  expect(file.tensors.weight.shape).toEqual([1, 1]);
  expect(Array.from(file.tensors.weight.data)).toEqual([60]);
  expect(Number(res.headers['content-length'])).toBe((res.body as Buffer).byteLength);

  const json = await request(t.app.server).get(`/v1/jobs/${id}/checkpoint?format=json`).expect(200);
  expect(json.body).toEqual({
    tensors: { weight: { dtype: 'F32', shape: [1, 1], data: [[60]] }, bias: { dtype: 'F32', shape: [1], data: [0.5] } },
    metadata: { format: 'pt' },
  });
});

test('periodic checkpoints: listed with links, each downloadable by epoch; unknown epoch is 404 listing the kept ones', async () => {
  t = await makeTestApp();
  const id = await finishedJob({ ...regressionSpec, checkpointEvery: 20 });
  const list = await request(t.app.server).get(`/v1/jobs/${id}/checkpoints`).expect(200);
  expect(list.body.jobId).toBe(id);
  expect(list.body.items.map((c: { epoch: number; kind: string }) => [c.epoch, c.kind])).toEqual([
    [20, 'periodic'],
    [40, 'periodic'],
    [60, 'final'],
  ]);
  expect(list.body.items[0].links).toEqual({
    download: `/v1/jobs/${id}/checkpoint?epoch=20`,
    json: `/v1/jobs/${id}/checkpoint?epoch=20&format=json`,
  });
  const e20 = await request(t.app.server).get(list.body.items[0].links.download).buffer(true).parse(binary).expect(200);
  expect(e20.headers['content-disposition']).toBe(`attachment; filename="${id}-epoch20.safetensors"`);
  expect(Array.from(parseSafetensors(new Uint8Array(e20.body as Buffer)).tensors.weight.data)).toEqual([20]);
  const e40 = await request(t.app.server).get(list.body.items[1].links.json).expect(200);
  expect(e40.body.tensors.weight.data).toEqual([[40]]);

  const missing = await request(t.app.server).get(`/v1/jobs/${id}/checkpoint?epoch=7`).expect(404);
  expect(missing.body).toEqual({ error: 'not_found', message: `checkpoint at epoch 7 not found for job ${id}; kept epochs: 20, 40, 60` });
  const bad = await request(t.app.server).get(`/v1/jobs/${id}/checkpoint?epoch=-1&format=xml`).expect(400);
  expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.epoch', 'query.format']);
});

test('no checkpoint yet: 409 no_checkpoint for download and predictions; unknown job 404', async () => {
  t = await makeTestApp();
  t.fake!.paused = true;
  const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
  const dl = await request(t.app.server).get(`/v1/jobs/${body.id}/checkpoint`).expect(409);
  expect(dl.body).toEqual({
    error: 'no_checkpoint',
    message: `job ${body.id} has no checkpoint yet (status queued, epoch 0 of 60); wait for it to finish or set checkpointEvery`,
  });
  const pr = await request(t.app.server).post(`/v1/jobs/${body.id}/predictions`).send({ x: [[1]] }).expect(409);
  expect(pr.body.error).toBe('no_checkpoint');
  await request(t.app.server).get('/v1/jobs/j_unknown/checkpoint').expect(404);
  await request(t.app.server).get('/v1/jobs/j_unknown/checkpoints').expect(404);
  await request(t.app.server).post('/v1/jobs/j_unknown/predictions').send({ x: [[1]] }).expect(404);
});

test('predictions: {x} -> {y}; a wrong width is 400 naming the expected input dimension', async () => {
  t = await makeTestApp();
  const id = await finishedJob();
  const ok = await request(t.app.server).post(`/v1/jobs/${id}/predictions`).send({ x: [[1.5], [2]] }).expect(200);
  expect(ok.body).toEqual({ y: [[1.5], [2]] });
  const wide = await request(t.app.server).post(`/v1/jobs/${id}/predictions`).send({ x: [[1.5], [1, 2]] }).expect(400);
  expect(wide.body.error).toBe('validation_error');
  expect(wide.body.issues).toEqual([{ path: 'x.1', message: 'x[1] has 2 values but model.inputDim is 1' }]);
  expect(wide.body.message).toContain('this model expects rows of inputDim=1 values');
  const empty = await request(t.app.server).post(`/v1/jobs/${id}/predictions`).send({ x: [] }).expect(400);
  expect(empty.body.issues[0].message).toBe('x must have at least one row');
  const notNumbers = await request(t.app.server).post(`/v1/jobs/${id}/predictions`).send({ x: [['a']] }).expect(400);
  expect(notNumbers.body.issues).toEqual([{ path: 'x.0.0', message: 'must be a number, got string "a"' }]);
});
