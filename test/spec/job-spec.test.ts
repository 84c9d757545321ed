/**
 * The job spec's experiment fields (issue 12): validation, earlyStopping, scheduler, warmStart, tags, webhook.
 * Each bad value is refused with a message that names the field and what to send instead.
 */
import { describe, expect, it } from 'vitest';
import { jobSpecSchema, type JobSpecInput } from '../../src/spec/job-spec.js';

const base: JobSpecInput = {
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: { kind: 'random', n: 10 },
  training: { epochs: 3, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } },
};
const withTraining = (t: Record<string, unknown>) => ({ ...base, training: { ...base.training, ...t } });

function issues(input: unknown): string[] {
  const r = jobSpecSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('experiment fields of the job spec', () => {
  it('accepts every field, filling PyTorch defaults (gamma 0.1, etaMin 0, minDelta 0)', () => {
    const id = '3f1c2b7e-9a4d-4c1e-8f2a-1b2c3d4e5f60';
    const parsed = jobSpecSchema.parse({
      ...withTraining({
        validation: { kind: 'fraction', fraction: 0.2 },
        earlyStopping: { patience: 3 },
        scheduler: { kind: 'step', stepSize: 2 },
      }),
      warmStart: { jobId: id, epoch: 20 },
      tags: ['baseline', 'exp:1', 'a.b-c_d'],
      webhook: { url: 'https://example.com/hooks/gradloom?x=1' },
    });
    expect(parsed.training).toMatchObject({ earlyStopping: { patience: 3, minDelta: 0 }, scheduler: { kind: 'step', stepSize: 2, gamma: 0.1 } });
    expect(jobSpecSchema.parse(withTraining({ scheduler: { kind: 'cosine', tMax: 10 } })).training.scheduler).toEqual({ kind: 'cosine', tMax: 10, etaMin: 0 });
    expect(parsed.warmStart).toEqual({ jobId: id, epoch: 20 });
    expect(jobSpecSchema.parse(withTraining({ validation: { kind: 'inline', x: [[1]], y: [[2]] } })).training.validation).toEqual({ kind: 'inline', x: [[1]], y: [[2]] });
    expect(jobSpecSchema.parse(withTraining({ validation: { kind: 'dataset', id: 'd_1' } })).training.validation).toEqual({ kind: 'dataset', id: 'd_1' });
  });

  it('early stopping needs validation', () => {
    expect(issues(withTraining({ earlyStopping: { patience: 2 } }))).toEqual([
      'training.earlyStopping: training.earlyStopping needs training.validation (it stops on the validation loss); add e.g. {"kind": "fraction", "fraction": 0.2}',
    ]);
  });

  it('refuses out-of-range validation, early stopping and schedule values, naming each', () => {
    expect(issues(withTraining({ validation: { kind: 'fraction', fraction: 0 } }))).toEqual([
      'training.validation.fraction: validation.fraction must be greater than 0 (and below 1)',
    ]);
    expect(issues(withTraining({ validation: { kind: 'fraction', fraction: 1 } }))).toEqual([
      'training.validation.fraction: validation.fraction must be below 1 (and greater than 0)',
    ]);
    expect(
      issues(withTraining({ validation: { kind: 'fraction', fraction: 0.5 }, earlyStopping: { patience: 0, minDelta: -1 } })),
    ).toEqual([
      'training.earlyStopping.patience: earlyStopping.patience must be at least 1 epoch',
      'training.earlyStopping.minDelta: earlyStopping.minDelta must be >= 0',
    ]);
    expect(issues(withTraining({ validation: { kind: 'fraction', fraction: 0.5 }, earlyStopping: { patience: 1.5 } }))).toEqual([
      'training.earlyStopping.patience: earlyStopping.patience must be a whole number of epochs',
    ]);
    expect(issues(withTraining({ scheduler: { kind: 'step', stepSize: 0, gamma: 0 } }))).toEqual([
      'training.scheduler.stepSize: scheduler.stepSize must be at least 1 epoch',
      'training.scheduler.gamma: scheduler.gamma must be > 0',
    ]);
    expect(issues(withTraining({ scheduler: { kind: 'cosine', tMax: 0, etaMin: -0.1 } }))).toEqual([
      'training.scheduler.tMax: scheduler.tMax must be at least 1 epoch',
      'training.scheduler.etaMin: scheduler.etaMin must be >= 0',
    ]);
    expect(issues(withTraining({ scheduler: { kind: 'exponential', gamma: 0.9 } }))[0]).toMatch(/^training\.scheduler\.kind: /);
  });

  it('refuses bad tags, webhook URLs and warm starts', () => {
    expect(issues({ ...base, tags: ['ok', 'has space', '', 'x'.repeat(65)] })).toEqual([
      'tags.1: a tag is 1-64 characters of A-Z a-z 0-9 _ . : -',
      'tags.2: a tag is 1-64 characters of A-Z a-z 0-9 _ . : -',
      'tags.3: a tag is 1-64 characters of A-Z a-z 0-9 _ . : -',
    ]);
    expect(issues({ ...base, tags: Array.from({ length: 21 }, (_, i) => `t${i}`) })).toEqual(['tags: at most 20 tags']);
    for (const url of ['ftp://example.com/x', 'javascript:alert(1)', '/relative', 'http://', 'not a url']) {
      expect(issues({ ...base, webhook: { url } }), url).toEqual(['webhook.url: webhook.url must be an absolute http:// or https:// URL']);
    }
    expect(issues({ ...base, webhook: { url: `https://example.com/${'a'.repeat(2048)}` } })).toEqual(['webhook.url: webhook.url is longer than 2048 characters']);
    expect(issues({ ...base, webhook: { url: 'http://10.0.0.1:8080/hook' } })).toEqual([]);
    expect(issues({ ...base, warmStart: { jobId: 'job-1', epoch: 0 } })).toEqual([
      'warmStart.jobId: warmStart.jobId must be the id (a UUID) of a job with a checkpoint',
      'warmStart.epoch: warmStart.epoch must be >= 1',
    ]);
  });
});
