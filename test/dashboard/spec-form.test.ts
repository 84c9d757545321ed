/** The submit form's model (public/js/spec.js): presets, form values ⇄ spec, and API issue paths → fields. */
import request from 'supertest';
import { expect, test } from 'vitest';
import { buildSpec, fieldForPath, FIELD_PATHS, PRESETS, valuesFromSpec } from '../../public/js/spec.js';
import { jobSpecSchema } from '../../src/spec/job-spec.js';
import { makeTestApp, regressionSpec, twoLayerSpec } from '../helpers/app.js';

test("the presets are the tutorial's two programs (the regression adds checkpoints every 5 epochs for the live fit)", () => {
  expect(PRESETS.twoLayer).toEqual({ ...twoLayerSpec, name: 'tutorial: two-layer net' });
  expect(PRESETS.regression).toEqual({ ...regressionSpec, name: 'tutorial: linear regression', checkpointEvery: 5 });
  expect(jobSpecSchema.safeParse(PRESETS.twoLayer).success).toBe(true);
  expect(jobSpecSchema.safeParse(PRESETS.regression).success).toBe(true);
});

test('filling the form with a preset and reading it back gives the same job', () => {
  for (const preset of [PRESETS.regression, PRESETS.twoLayer]) {
    const { spec, issues } = buildSpec(valuesFromSpec(preset));
    expect(issues).toEqual([]);
    // The form shows defaults explicitly (init: randn); normalised, the two specs are the same.
    expect(jobSpecSchema.parse(spec)).toEqual(jobSpecSchema.parse(preset));
  }
  expect(buildSpec(valuesFromSpec(PRESETS.regression)).spec).toEqual(PRESETS.regression);
});

test('the form sends what it cannot check as typed, and reports JSON it cannot parse at its field', () => {
  const values = valuesFromSpec(PRESETS.regression);
  const { spec } = buildSpec({ ...values, 'model.inputDim': 'abc', 'training.optimizer.lr': ' 1e-3 ', seed: '' });
  expect(spec.model.inputDim).toBe('abc');
  expect(spec.training.optimizer.lr).toBe(0.001);
  expect('seed' in spec).toBe(false);
  const bad = buildSpec({ ...values, 'data.y': '[[1.7], [2.76]' });
  expect(bad.issues).toHaveLength(1);
  expect(bad.issues[0].path).toBe('data.y');
  expect(bad.issues[0].message).toMatch(/^not valid JSON/);
});

test('issue paths map to the closest field', () => {
  expect(fieldForPath('training.optimizer.lr')).toBe('training.optimizer.lr');
  expect(fieldForPath('data.x.3.0')).toBe('data.x');
  expect(fieldForPath('training.optimizer')).toBe('training.optimizer.kind');
  expect(fieldForPath('model')).toBe('model.kind');
  expect(fieldForPath('colour')).toBeNull();
  expect(fieldForPath('')).toBeNull();
});

test("every issue the API reports for a bad form lands on one of the form's fields", async () => {
  const t = await makeTestApp({ overrides: { limits: { maxEpochs: 1000 } } });
  try {
    const base = valuesFromSpec(PRESETS.regression);
    const twoLayer = valuesFromSpec(PRESETS.twoLayer);
    const forms = [
      { ...base, 'model.inputDim': 'abc', 'training.optimizer.lr': '-1', 'training.epochs': '0' },
      { ...base, 'data.x': '[[1],[2]]', 'data.y': '[[1]]' },
      { ...base, 'model.inputDim': '2' },
      { ...base, 'data.x': '[[1],["a"]]' },
      { ...base, 'training.epochs': '5000', 'checkpointEvery': '0', seed: '-3', 'training.batchSize': '1.5' },
      { ...twoLayer, 'model.hiddenDim': '0', 'data.n': 'many', 'model.init': 'zeros' },
      { ...base, 'model.kind': 'rnn', 'training.optimizer.kind': 'lbfgs', 'training.loss': 'l1' },
      { ...base, 'data.kind': 'dataset', 'data.id': 'no-such-dataset' },
    ];
    for (const values of forms) {
      const { spec } = buildSpec(values);
      const res = await request(t.app.server).post('/v1/jobs').send(spec);
      expect(res.status, JSON.stringify(spec)).toBe(400);
      expect(res.body.issues.length).toBeGreaterThan(0);
      for (const issue of res.body.issues as Array<{ path: string }>) {
        expect(FIELD_PATHS, `issue ${issue.path}`).toContain(fieldForPath(issue.path));
      }
    }
  } finally {
    await t.close();
  }
});
