/**
 * Experiments over HTTP on the real runtime: validation + early stopping + cosine schedule jobs stream PyTorch's
 * losses and validation losses (test/fixtures/pytorch/experiments.*), record their split and where they stopped,
 * and keep the best epoch's weights; a warm start continues another job's weights and records where it started;
 * tags and names filter the job list.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadSafetensors } from '../../src/engine/index.js';
import { buildApp, type App } from '../../src/service/app.js';
import { loadConfig } from '../../src/service/config.js';
import { regressionSpec } from '../helpers/app.js';
import { listen, streamOf, summarize } from '../helpers/ws.js';

const FIX = 'test/fixtures/pytorch';
const fixture = JSON.parse(readFileSync(join(FIX, 'experiments.json'), 'utf8')) as {
  cases: { name: string; spec: Record<string, unknown>; losses: number[]; valLosses: number[]; bestEpoch: number; stoppedEpoch: number | null; valRows: number[] }[];
};
const tensors = loadSafetensors(new Uint8Array(readFileSync(join(FIX, 'experiments.safetensors')))).tensors;
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('experiments over HTTP (real runtime)', () => {
  let app: App;
  let host: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gradloom-exp-'));
    app = await buildApp({ config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2' }), logger: false });
    host = await listen(app);
  });
  afterAll(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const submit = async (spec: unknown) => (await request(app.server).post('/v1/jobs').send(spec as object).expect(201)).body.id as string;

  test.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: validation + early stopping + cosine schedule stream PyTorch\'s loss and valLoss; the checkpoint is the best epoch\'s',
    async (_name, c) => {
      const id = await submit({ ...c.spec, name: `experiment ${c.name}` });
      const stream = await streamOf(host, id);
      const { epochs, last } = summarize(stream);
      const streamed = epochs as unknown as { epoch: number; loss: number; valLoss: number }[];
      expect(streamed.map((e) => e.epoch)).toEqual(c.losses.map((_, i) => i + 1));
      // The fixtures' README tolerances: linear regression 1e-5 throughout; the two-layer net 1e-4 early on.
      const tol = c.name === 'linear_regression' ? 1e-5 : 1e-4;
      streamed.forEach((e, i) => {
        expect(relErr(e.loss, c.losses[i]!), `loss, epoch ${i + 1}`).toBeLessThan(tol);
        expect(relErr(e.valLoss, c.valLosses[i]!), `valLoss, epoch ${i + 1}`).toBeLessThan(tol);
      });
      expect(last).toMatchObject({ type: 'status', status: 'succeeded', epoch: c.stoppedEpoch });

      const job = (await request(app.server).get(`/v1/jobs/${id}`).expect(200)).body;
      expect(job.details.split).toMatchObject({ validationRows: c.valRows.length });
      expect(job.details.split.rule).toContain('torch.randperm');
      expect(job.details.stoppedEarly).toEqual({ epoch: c.stoppedEpoch, bestEpoch: c.bestEpoch });
      expect(job.details.best.epoch).toBe(c.bestEpoch);

      const metrics = (await request(app.server).get(`/v1/jobs/${id}/metrics`).expect(200)).body.epochs as { valLoss: number }[];
      expect(metrics.map((m) => m.valLoss)).toEqual(streamed.map((e) => e.valLoss));

      // The final checkpoint holds the best epoch's weights (and says which epoch): PyTorch's, within the tolerance.
      const list = (await request(app.server).get(`/v1/jobs/${id}/checkpoints`).expect(200)).body;
      expect(JSON.stringify(list)).toContain(`"epoch":${c.bestEpoch}`);
      const ckpt = await request(app.server).get(`/v1/jobs/${id}/checkpoint`).buffer(true).parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      });
      const got = loadSafetensors(new Uint8Array(ckpt.body as Buffer)).tensors;
      for (const [name, t] of Object.entries(got)) {
        const want = tensors[`${c.name}.best.${name}`];
        expect(want, `fixture tensor ${c.name}.best.${name}`).toBeDefined();
        const a = t.data;
        const b = want!.data;
        let num = 0;
        let den = 0;
        for (let i = 0; i < b.length; i++) {
          num = Math.max(num, Math.abs(a[i]! - b[i]!));
          den = Math.max(den, Math.abs(b[i]!));
        }
        expect(num / den, name).toBeLessThan(tol);
      }
    },
  );

  test('a warm start continues from another job\'s final checkpoint and records it; incompatible sources are 400', async () => {
    const a = await submit({ ...regressionSpec, tags: ['base'] });
    await streamOf(host, a);
    // Continuing A for one epoch equals epoch 61 of the same spec trained 61 epochs (same data, same weights).
    const longer = await submit({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 61 } });
    const b = await submit({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 1 }, warmStart: { jobId: a }, tags: ['warm'] });
    const [longStream, warmStream] = await Promise.all([streamOf(host, longer), streamOf(host, b)]);
    expect(summarize(warmStream).epochs[0]!.loss).toBe(summarize(longStream).epochs[60]!.loss);
    const job = (await request(app.server).get(`/v1/jobs/${b}`).expect(200)).body;
    expect(job.details.warmStart).toEqual({ jobId: a, epoch: 60, kind: 'final' });

    const wrongModel = await request(app.server)
      .post('/v1/jobs')
      .send({ model: { kind: 'linear_regression', inputDim: 2, outputDim: 1 }, data: { kind: 'random', n: 4 }, training: regressionSpec.training, warmStart: { jobId: a } })
      .expect(400);
    expect(wrongModel.body.message).toMatch(/"weight" is \[1, 1\] but this model's is \[1, 2\]/);
    const noEpoch = await request(app.server).post('/v1/jobs').send({ ...regressionSpec, warmStart: { jobId: a, epoch: 7 } }).expect(400);
    expect(noEpoch.body.message).toMatch(/no checkpoint at that epoch \(its checkpoints: 60\)/);
    const unknown = await request(app.server)
      .post('/v1/jobs')
      .send({ ...regressionSpec, warmStart: { jobId: '00000000-0000-4000-8000-000000000000' } })
      .expect(400);
    expect(unknown.body.message).toMatch(/does not exist/);
  });

  test('GET /v1/jobs filters by tag, status and name', async () => {
    const x = await submit({ ...regressionSpec, name: 'Sweep lr=0.001', tags: ['sweep', 'lr:1e-3'] });
    const y = await submit({ ...regressionSpec, name: 'other run', tags: ['sweep'] });
    await Promise.all([streamOf(host, x), streamOf(host, y)]);
    const ids = async (q: string) => ((await request(app.server).get(`/v1/jobs?${q}`).expect(200)).body.items as { id: string }[]).map((j) => j.id);
    expect(await ids('tag=sweep')).toEqual([y, x]);
    expect(await ids('tag=lr:1e-3')).toEqual([x]);
    expect(await ids('tag=sweep&name=SWEEP')).toEqual([x]);
    expect(await ids('tag=sweep&status=running')).toEqual([]);
    expect(await ids('tag=nothing')).toEqual([]);
    const bad = await request(app.server).get('/v1/jobs?tag=no%20spaces').expect(400);
    expect(bad.body.message).toMatch(/tag/);
  });
});
