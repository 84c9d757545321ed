/**
 * GET /v1/jobs/:id/pytorch and GET /v1/jobs/compare(.svg) through the app, on the fake manager (loss = 1/epoch;
 * here its metrics also carry valLoss = 2/epoch for jobs named "with-val", as jobs with validation data report).
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeJobManager, fakeLoss } from '../helpers/fake-manager.js';
import { makeTestApp, regressionSpec, twoLayerSpec, type TestApp } from '../helpers/app.js';
import { findAll, parseSvg, polylinePoints, series } from '../plots/svg-helpers.js';

let t: TestApp;
const ids: Record<string, string> = {};

const asText = (req: request.Test) =>
  req.buffer(true).parse((res, cb) => {
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    res.on('end', () => cb(null, body));
  });

async function submit(spec: object): Promise<string> {
  const res = await request(t.app.server).post('/v1/jobs').send(spec).expect(201);
  return res.body.id as string;
}
async function finished(id: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const job = (await request(t.app.server).get(`/v1/jobs/${id}`)).body as { status: string };
    if (job.status === 'succeeded') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`job ${id} did not finish`);
}

beforeAll(async () => {
  t = await makeTestApp({
    manager: (store) => {
      // The fake manager, with validation losses for the jobs that would have them.
      const fake = new FakeJobManager({ store });
      const metrics = fake.metrics.bind(fake);
      fake.metrics = async (tenant: string, id: string) => {
        const epochs = await metrics(tenant, id);
        const job = await fake.get(tenant, id);
        return epochs && job?.name === 'with-val' ? epochs.map((e) => ({ ...e, valLoss: 2 / e.epoch })) : epochs;
      };
      return fake;
    },
  });
  ids.regression = await submit({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 6 } });
  ids.faster = await submit({ ...regressionSpec, name: 'with-val', training: { ...regressionSpec.training, epochs: 4, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 } } });
  ids.unnamed = await submit({ ...twoLayerSpec, name: undefined, training: { ...twoLayerSpec.training, epochs: 5 } });
  for (const id of Object.values(ids)) await finished(id);
});
afterAll(async () => {
  await t?.close();
});

describe('GET /v1/jobs/:id/pytorch', () => {
  it('is a Python download named after the job, with the spec in it and the API it came from', async () => {
    const res = await asText(request(t.app.server).get(`/v1/jobs/${ids.regression}/pytorch`).set('host', 'gradloom.test:9000')).expect(200);
    expect(res.headers['content-type']).toBe('text/x-python; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${ids.regression}.py"`);
    const py = res.body as string;
    expect(py.startsWith('#!/usr/bin/env python3\n')).toBe(true);
    expect(py).toContain(`# gradloom job "${ids.regression}" ("regression")`);
    expect(py).toContain('model = nn.Linear(D_in, D_out)');
    expect(py).toContain('epochs = 6\n');
    expect(py).toContain('seed = 0\n');
    // Nothing to download for this job; a job that needs the API gets this server's address as its default.
    expect(py).not.toContain('BASE_URL');
  });

  it('a job without a seed in its request gets the seed it ran with', async () => {
    const id = await submit({ ...regressionSpec, seed: undefined });
    const job = (await request(t.app.server).get(`/v1/jobs/${id}`)).body as { spec: { seed: number } };
    const py = (await asText(request(t.app.server).get(`/v1/jobs/${id}/pytorch`)).expect(200)).body as string;
    expect(py).toContain(`seed = ${job.spec.seed}\n`);
    await finished(id);
  });

  it('an unknown job is a 404 naming it', async () => {
    const res = await request(t.app.server).get('/v1/jobs/nope-123/pytorch').expect(404);
    expect(res.body.error).toBe('not_found');
    expect(res.body.message).toContain('nope-123');
  });
});

describe('GET /v1/jobs/compare', () => {
  it('hyperparameters side by side and each job\'s metrics summary, in the order asked', async () => {
    const res = await request(t.app.server).get(`/v1/jobs/compare?ids=${ids.faster},${ids.regression},${ids.unnamed}`).expect(200);
    const body = res.body as {
      jobs: Array<{ id: string; label: string; hyperparameters: Record<string, unknown>; summary: Record<string, number | null>; links: { pytorch: string } }>;
      hyperparameters: Array<{ key: string; values: unknown[]; differs: boolean }>;
      links: { svg: string };
    };
    expect(body.jobs.map((j) => j.id)).toEqual([ids.faster, ids.regression, ids.unnamed]);
    const row = (key: string) => body.hyperparameters.find((h) => h.key === key);
    expect(row('training.optimizer.lr')).toEqual({ key: 'training.optimizer.lr', values: [0.01, 0.001, 1e-6], differs: true });
    expect(row('training.optimizer.kind')).toEqual({ key: 'training.optimizer.kind', values: ['sgd', 'sgd', 'sgd'], differs: false });
    expect(row('data.rows')?.values).toEqual([15, 15, null]); // inline rows as their count and digest
    const [sha] = row('data.sha256')!.values as string[];
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(row('data.sha256')?.values).toEqual([sha, sha, null]);
    expect(row('data.n')?.values).toEqual([null, null, 64]);
    expect(row('model.hiddenDim')?.values).toEqual([null, null, 100]);
    expect(body.hyperparameters.some((h) => h.key.startsWith('data.x') || h.key === 'name')).toBe(false);

    const [withVal, plain, unnamed] = body.jobs;
    expect(withVal.summary).toEqual({
      epochs: 4, finalLoss: fakeLoss(4), bestLoss: fakeLoss(4), bestLossEpoch: 4, finalValLoss: 2 / 4, bestValLoss: 2 / 4, bestValLossEpoch: 4,
    });
    expect(plain.summary).toMatchObject({ epochs: 6, finalLoss: fakeLoss(6), finalValLoss: null, bestValLoss: null, bestValLossEpoch: null });
    // Labels: the name, or the model and a short id; then what differs between the jobs.
    expect(withVal.label).toMatch(/^with-val · /);
    expect(withVal.label).toContain('lr=0.01');
    expect(unnamed.label.startsWith(`two_layer_net ${ids.unnamed.slice(0, 8)} · `)).toBe(true);
    expect(unnamed.links.pytorch).toBe(`/v1/jobs/${ids.unnamed}/pytorch`);
    expect(body.links.svg).toBe(`/v1/jobs/compare.svg?ids=${ids.faster},${ids.regression},${ids.unnamed}`);
  });

  it('400s name the unknown ids, too many ids, and a missing list', async () => {
    const unknown = await request(t.app.server).get(`/v1/jobs/compare?ids=${ids.regression},ghost-1,ghost-2`).expect(400);
    expect(unknown.body.error).toBe('validation_error');
    expect(unknown.body.message).toBe('query.ids: no such jobs: ghost-1, ghost-2 (of the 3 ids given)');
    const many = Array.from({ length: 11 }, (_, i) => `j${i}`).join(',');
    const tooMany = await request(t.app.server).get(`/v1/jobs/compare.svg?ids=${many}`).expect(400);
    expect(tooMany.body.message).toContain('11 job ids given; at most 10 jobs can be compared at once');
    const none = await request(t.app.server).get('/v1/jobs/compare?ids=,,').expect(400);
    expect(none.body.message).toContain('name at least one job id');
    const missing = await request(t.app.server).get('/v1/jobs/compare').expect(400);
    expect(missing.body.issues.map((i: { path: string }) => i.path)).toEqual(['query.ids']);
    // Repeats count once (ten distinct ids and a repeat are fine as far as the count goes).
    const dup = await request(t.app.server).get(`/v1/jobs/compare?ids=${ids.regression},${ids.regression}`).expect(200);
    expect(dup.body.jobs).toHaveLength(1);
  });
});

describe('GET /v1/jobs/compare.svg', () => {
  it('one line per job, validation loss dashed in the same colour, a legend naming each job', async () => {
    const res = await asText(request(t.app.server).get(`/v1/jobs/compare.svg?ids=${ids.regression},${ids.faster},${ids.unnamed}`)).expect(200);
    expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
    const root = parseSvg(res.body as string);
    const labels = ((await request(t.app.server).get(`/v1/jobs/compare?ids=${ids.regression},${ids.faster},${ids.unnamed}`)).body as { jobs: Array<{ label: string }> }).jobs.map((j) => j.label);
    const lines = labels.map((l) => series(root, l));
    expect(lines.map((g) => polylinePoints(g).length)).toEqual([6, 4, 5]);
    const val = series(root, `${labels[1]} (valLoss)`);
    expect(polylinePoints(val)).toHaveLength(4);
    const stroke = (g: ReturnType<typeof series>) => findAll(g, (n) => n.name === 'polyline')[0].attrs;
    expect(stroke(val)['stroke-dasharray']).toBe('6 4');
    expect(stroke(val).stroke).toBe(stroke(lines[1]).stroke);
    expect(stroke(lines[1])['stroke-dasharray']).toBeUndefined();
    expect(new Set(lines.map((g) => stroke(g).stroke)).size).toBe(3);
    // The legend lists the jobs (not their validation lines); the note says what dashes mean.
    const legend = findAll(root, (n) => n.attrs.class === 'legend')[0];
    expect(findAll(legend, (n) => n.name === 'text').map((n) => n.text)).toEqual(labels);
    expect(findAll(root, (n) => n.attrs.class === 'note')[0].text).toBe('dashed: validation loss');
    // 1/epoch from 1 to 1/6 spans less than 3 decades: linear by default; ?log=1 asks for log.
    expect(findAll(root, (n) => n.attrs.class === 'y-axis')[0].attrs['data-scale']).toBe('linear');
    const log = parseSvg((await asText(request(t.app.server).get(`/v1/jobs/compare.svg?ids=${ids.regression}&log=1&width=500&height=300`)).expect(200)).body as string);
    expect(findAll(log, (n) => n.attrs.class === 'y-axis')[0].attrs['data-scale']).toBe('log');
    expect(log.attrs.viewBox).toBe('0 0 500 300');
  });

  it('bad query values are a 400 naming the parameter', async () => {
    const bad = await request(t.app.server).get(`/v1/jobs/compare.svg?ids=${ids.regression}&log=maybe&width=10`).expect(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.log', 'query.width']);
  });
});
