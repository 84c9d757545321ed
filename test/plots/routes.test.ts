/**
 * GET /v1/jobs/:id/plots/loss.svg and fit.svg through the app. Trained jobs come from the real runtime (real server,
 * real training); the states training passes through too fast to catch (no checkpoint yet) use the fake manager.
 */
import request from 'supertest';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { makeTestApp, regressionSpec, twoLayerSpec } from '../helpers/app.js';
import { startLiveServer, waitForJob, type LiveServer } from '../helpers/live-server.js';
import { findAll, parseSvg, polylinePoints, series } from './svg-helpers.js';

let server: LiveServer;
let regressionId: string;

beforeAll(async () => {
  server = await startLiveServer();
  const res = await server.api('POST', '/v1/jobs', { ...regressionSpec, name: `fit <&> "quoted"` });
  expect(res.status).toBe(201);
  regressionId = ((await res.json()) as { id: string }).id;
  await waitForJob(server, regressionId);
});
afterAll(async () => {
  await server?.close();
});

test('loss.svg of a finished job: SVG with one vertex per epoch', async () => {
  const res = await server.api('GET', `/v1/jobs/${regressionId}/plots/loss.svg`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
  const svg = await res.text();
  const root = parseSvg(svg);
  const metrics = (await (await server.api('GET', `/v1/jobs/${regressionId}/metrics`)).json()) as { epochs: Array<{ loss: number }> };
  expect(metrics.epochs).toHaveLength(60);
  expect(polylinePoints(series(root, 'loss'))).toHaveLength(60);
  // The job name is user text: escaped in the file, intact once parsed.
  expect(svg).toContain('fit &lt;&amp;&gt; &quot;quoted&quot;');
  expect(findAll(root, (n) => n.name === 'title')[0].text).toBe('Training loss: fit <&> "quoted"');
  const desc = findAll(root, (n) => n.name === 'desc')[0].text;
  expect(desc).toContain(`at epoch 60 the loss is ${metrics.epochs[59].loss}`);
});

test('loss.svg?log=1 uses a log axis; bad query values are a 400 naming the parameter', async () => {
  const root = parseSvg(await (await server.api('GET', `/v1/jobs/${regressionId}/plots/loss.svg?log=1&width=800&height=300`)).text());
  expect(root.attrs.viewBox).toBe('0 0 800 300');
  expect(findAll(root, (n) => n.attrs.class === 'y-axis')[0].attrs['data-scale']).toBe('log');
  const bad = await server.api('GET', `/v1/jobs/${regressionId}/plots/loss.svg?log=maybe&width=5`);
  expect(bad.status).toBe(400);
  const body = (await bad.json()) as { error: string; issues: Array<{ path: string }> };
  expect(body.error).toBe('validation_error');
  expect(body.issues.map((i) => i.path).sort()).toEqual(['query.log', 'query.width']);
});

test('fit.svg of the tutorial regression: 15 points and the line of the trained state dict', async () => {
  const res = await server.api('GET', `/v1/jobs/${regressionId}/plots/fit.svg`);
  expect(res.status).toBe(200);
  const root = parseSvg(await res.text());
  expect(findAll(series(root, 'training data'), (n) => n.name === 'circle')).toHaveLength(15);
  const state = (await (await server.api('GET', `/v1/jobs/${regressionId}/checkpoint?format=json`)).json()) as {
    tensors: { weight: { data: number[][] }; bias: { data: number[] } };
  };
  const w = state.tensors.weight.data[0][0];
  const b = state.tensors.bias.data[0];
  const label = findAll(root, (n) => n.name === 'g' && String(n.attrs['data-series']).startsWith('fit: '))[0].attrs['data-series'];
  const [, ws, sign, bs] = /^fit: y = (\S+)·x (\+|−) (\S+)$/.exec(label)!;
  expect(Number(ws)).toBeCloseTo(w, 5);
  expect((sign === '−' ? -1 : 1) * Number(bs)).toBeCloseTo(b, 5);
  expect(polylinePoints(findAll(root, (n) => n.attrs['data-series'] === label)[0])).toHaveLength(2);
});

test('fit.svg refuses what it cannot draw, saying why', async () => {
  const two = (await (await server.api('POST', '/v1/jobs', { ...twoLayerSpec, training: { ...twoLayerSpec.training, epochs: 2 } })).json()) as { id: string };
  const notRegression = await server.api('GET', `/v1/jobs/${two.id}/plots/fit.svg`);
  expect(notRegression.status).toBe(400);
  const body = (await notRegression.json()) as { error: string; message: string };
  expect(body.error).toBe('plot_unavailable');
  expect(body.message).toMatch(/needs model linear_regression with inputDim 1 and outputDim 1, job \S+ is two_layer_net/);

  const random = (await (
    await server.api('POST', '/v1/jobs', { ...regressionSpec, data: { kind: 'random', n: 8 }, training: { ...regressionSpec.training, epochs: 2 } })
  ).json()) as { id: string };
  const noData = await server.api('GET', `/v1/jobs/${random.id}/plots/fit.svg`);
  expect(noData.status).toBe(409);
  expect(((await noData.json()) as { error: string }).error).toBe('data_unavailable');

  const missing = await server.api('GET', '/v1/jobs/nope/plots/loss.svg');
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { message: string }).message).toMatch(/nope/);
  await waitForJob(server, two.id);
  await waitForJob(server, random.id);
});

test('before the first checkpoint fit.svg is a 409 and loss.svg an empty plot with a note', async () => {
  const t = await makeTestApp();
  try {
    t.fake!.paused = true;
    const job = (await request(t.app.server).post('/v1/jobs').send(regressionSpec).expect(201)).body as { id: string };
    const fit = await request(t.app.server).get(`/v1/jobs/${job.id}/plots/fit.svg`).expect(409);
    expect(fit.body.error).toBe('no_checkpoint');
    expect(fit.body.message).toMatch(/has no checkpoint yet \(status queued, epoch 0 of 60\)/);
    const loss = await request(t.app.server).get(`/v1/jobs/${job.id}/plots/loss.svg`).buffer(true).parse((res, cb) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => cb(null, text));
    });
    expect(loss.status).toBe(200);
    const root = parseSvg(loss.body as string);
    expect(findAll(root, (n) => n.attrs.class === 'note')[0].text).toBe('no epochs finished yet');
    expect(series(root, 'loss').attrs['data-count']).toBe('0');
  } finally {
    await t.close();
  }
});
