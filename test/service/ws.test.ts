import request from 'supertest';
import { afterEach, expect, test } from 'vitest';
import { makeTestApp, regressionSpec, twoLayerSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';
import { listen, openStream, streamOf, summarize } from '../helpers/ws.js';

let t: (TestApp & { fake: FakeJobManager | null }) | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test('a stream opened before the job runs gets every epoch in order, then the final status, then 1000', async () => {
  t = await makeTestApp();
  t.fake!.paused = true;
  const host = await listen(t.app);
  const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
  const { ws, done } = openStream(host, body.id);
  await new Promise((r) => ws.once('open', r));
  t.fake!.resume();
  const result = await done;
  const { epochs, final, last } = summarize(result);
  expect(epochs.map((e) => e.epoch)).toEqual(range(60));
  expect(epochs.map((e) => e.loss)).toEqual(range(60).map((e) => 1 / e));
  expect(last).toEqual({ type: 'status', status: 'succeeded', epoch: 60, epochs: 60, lastLoss: 1 / 60, error: null });
  expect(final).toBe(last);
  expect(result.messages.filter((m) => m.type === 'status')).toHaveLength(1);
  expect(result.code).toBe(1000);
});

test('a late subscriber gets the epochs it missed: mid-run and after the end', async () => {
  t = await makeTestApp({ fake: { epochDelayMs: 3 } });
  const host = await listen(t.app);
  const { body } = await request(t.app.server).post('/v1/jobs').send({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 100 } }).expect(201);
  for (let i = 0; i < 500 && ((await t.manager.get('default', body.id))?.epoch ?? 0) < 20; i++) await new Promise((r) => setTimeout(r, 5));
  const mid = await streamOf(host, body.id);
  expect(summarize(mid).epochs.map((e) => e.epoch)).toEqual(range(100));
  expect(summarize(mid).last).toMatchObject({ type: 'status', status: 'succeeded' });
  const after = await streamOf(host, body.id);
  expect(after.messages).toEqual([...range(100).map((e) => ({ type: 'epoch', epoch: e, loss: 1 / e })), summarize(mid).last]);
  // A client that reconnects asks only for what it has not seen.
  const resumed = await streamOf(host, body.id, '?from=98');
  expect(resumed.messages).toEqual([98, 99, 100].map((e) => ({ type: 'epoch', epoch: e, loss: 1 / e })).concat([summarize(mid).last as never]));
  const bad = (await streamOf(host, body.id, '?from=0').catch((e: unknown) => e)) as { statusCode: number; body: string };
  expect(bad.statusCode).toBe(400);
  expect(JSON.parse(bad.body).issues).toEqual([{ path: 'query.from', message: 'must be >= 1, got string "0"' }]);
});

test('many subscribers on many concurrent jobs each get their whole stream', async () => {
  t = await makeTestApp();
  t.fake!.paused = true;
  const host = await listen(t.app);
  const ids = await Promise.all(range(8).map(async () => (await request(t!.app.server).post('/v1/jobs').send(regressionSpec).expect(201)).body.id as string));
  const streams = ids.flatMap((id) => range(5).map(() => ({ id, ...openStream(host, id) })));
  await Promise.all(streams.map((s) => new Promise((r) => s.ws.once('open', r))));
  t.fake!.resume();
  for (const s of streams) {
    const { epochs, last } = summarize(await s.done);
    expect(epochs.map((e) => e.epoch)).toEqual(range(60));
    expect(last).toMatchObject({ type: 'status', status: 'succeeded' });
  }
});

test('a subscriber that stops reading does not stall training or other subscribers', async () => {
  t = await makeTestApp();
  t.fake!.paused = true;
  const host = await listen(t.app);
  const { body } = await request(t.app.server).post('/v1/jobs').send(twoLayerSpec).expect(201);
  const slow = openStream(host, body.id);
  const fast = openStream(host, body.id);
  await Promise.all([slow, fast].map((s) => new Promise((r) => s.ws.once('open', r))));
  // Stop reading from the TCP socket: the server's writes pile up in its buffers.
  (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  t.fake!.resume();
  const fastResult = await fast.done;
  expect(summarize(fastResult).epochs.map((e) => e.epoch)).toEqual(range(500));
  expect((await t.manager.get('default', body.id))?.status).toBe('succeeded');
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const slowResult = await slow.done;
  // Whatever the slow-consumer policy dropped, what arrives is in order and ends with the final status.
  const epochs = summarize(slowResult).epochs.map((e) => e.epoch);
  expect(epochs).toEqual([...epochs].sort((a, b) => a - b));
  expect(new Set(epochs).size).toBe(epochs.length);
  expect(summarize(slowResult).last).toMatchObject({ type: 'status', status: 'succeeded', epoch: 500 });
});

test('unknown job: 404 before the upgrade; a plain GET is 426', async () => {
  t = await makeTestApp();
  const host = await listen(t.app);
  const err = (await streamOf(host, 'j_missing').catch((e: unknown) => e)) as { statusCode: number; body: string };
  expect(err.statusCode).toBe(404);
  expect(JSON.parse(err.body)).toEqual({ error: 'not_found', message: 'job j_missing not found' });
  const { body } = await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201);
  const plain = await request(t.app.server).get(`/v1/jobs/${body.id}/stream`).expect(426);
  expect(plain.body.error).toBe('upgrade_required');
  expect(plain.headers.upgrade).toBe('websocket');
});
