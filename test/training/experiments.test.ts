/**
 * Validation, early stopping, schedules and warm starts in the trainer and the epoch loop:
 * - against PyTorch: the two runs of test/fixtures/pytorch/experiments.* (gen_experiments.py), each a validation
 *   fraction + early stopping + cosine schedule job, epoch by epoch;
 * - the rules themselves, cross-checked inside the engine (a fraction split trains exactly like the same rows given
 *   inline; valLoss is the loss the next epoch starts from when the validation rows are the training rows; a warm
 *   start continues a stateless run bit for bit).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernels, loadSafetensors, randperm, Generator, type Tensor } from '../../src/engine/index.js';
import { jobSpecSchema, type JobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { runTrainingLoop } from '../../src/training/loop.js';
import type { WorkerMessage } from '../../src/training/protocol.js';
import { Trainer } from '../../src/training/trainer.js';
import { checkSpecData, checkWarmStartShapes, stateDictShapes } from '../../src/training/validate.js';

const FIX = 'test/fixtures/pytorch';
const fixture = JSON.parse(readFileSync(`${FIX}/experiments.json`, 'utf8')) as {
  cases: {
    name: string;
    spec: JobSpecInput;
    perm: number[];
    valRows: number[];
    trainRows: number[];
    losses: number[];
    valLosses: number[];
    lrs: number[];
    bestEpoch: number;
    bestValLoss: number;
    stoppedEpoch: number | null;
    epochsRun: number;
  }[];
};
const tensors = loadSafetensors(new Uint8Array(readFileSync(`${FIX}/experiments.safetensors`))).tensors;

// The plain-SIMD kernel follows PyTorch's CPU order: there the runs match to the bit (as in tutorials.test.ts).
beforeAll(async () => {
  await kernels.ready;
  if (kernels.available().includes('simd')) kernels.useKernel('simd');
});
const bitExact = () => kernels.activeKernel() === 'simd';

function spec(input: JobSpecInput): JobSpec & { seed: number } {
  return jobSpecSchema.parse(input) as JobSpec & { seed: number };
}
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}
function collect(s: JobSpec & { seed: number }, extra: { initialWeights?: Uint8Array } = {}): WorkerMessage[] {
  const messages: WorkerMessage[] = [];
  runTrainingLoop(
    { jobId: 'j', spec: s, control: new SharedArrayBuffer(4), startedAtMs: 0, flushMs: 0, resumeSnapshotMs: 0, ...extra },
    (m) => messages.push(m),
  );
  return messages;
}
const endOf = (messages: WorkerMessage[]) => {
  const end = messages.at(-1)!;
  if (end.type !== 'end') throw new Error('no end message');
  return end;
};

describe('the validation split is torch.randperm on a generator seeded with the job seed', () => {
  it('randperm equals torch.randperm for the two fixture runs', () => {
    for (const c of fixture.cases) {
      expect(Array.from(randperm(c.perm.length, new Generator(c.spec.seed!)))).toEqual(c.perm);
    }
  });
});

describe('validation + early stopping + cosine schedule, against PyTorch', () => {
  // Tolerances: linear regression stays within float64-vs-float32 noise (README: 4e-7 over 60 epochs); the
  // two-layer net's sums of 1e6-scale squares are within 1e-5 over its 33 epochs (README: 1e-5 up to step ~98).
  const tolerance: Record<string, number> = { linear_regression: 1e-5, two_layer: 1e-4 };
  for (const c of fixture.cases) {
    it(`${c.name}: same split, losses, valLosses, stopping epoch and best weights`, () => {
      const s = spec(c.spec);
      const t = Trainer.create(s);
      expect(Array.from(t.validationRows!)).toEqual(c.valRows);
      expect(t.trainRows).toBe(c.trainRows.length);
      const losses: number[] = [];
      const valLosses: number[] = [];
      const lrs: number[] = [];
      while (!t.done) {
        lrs.push(t.lr);
        losses.push(t.runEpoch());
        valLosses.push(t.lastValLoss!);
      }
      expect(lrs).toEqual(c.lrs);
      expect(losses).toHaveLength(c.epochsRun);
      expect(t.epoch).toBe(c.stoppedEpoch ?? c.epochsRun);
      expect(t.earlyStopping).toEqual({ bestEpoch: c.bestEpoch, bestValLoss: expect.any(Number), stopped: c.stoppedEpoch !== null });
      expect(maxRel(losses, c.losses)).toBeLessThan(tolerance[c.name]!);
      expect(maxRel(valLosses, c.valLosses)).toBeLessThan(tolerance[c.name]!);
      if (bitExact()) {
        expect(losses).toEqual(c.losses);
        expect(valLosses).toEqual(c.valLosses);
      }
      const final = t.finalModel();
      expect(final.epoch).toBe(c.bestEpoch);
      const sd = loadSafetensors(final.safetensors).tensors;
      const prefix = `${c.name}.best.`;
      const names = Object.keys(tensors).filter((k) => k.startsWith(prefix));
      expect(Object.keys(sd).sort()).toEqual(names.map((k) => k.slice(prefix.length)).sort());
      for (const k of names) {
        const got = sd[k.slice(prefix.length)]!;
        expect(got.shape).toEqual(tensors[k]!.shape);
        expect(maxRel(got.data, tensors[k]!.data), k).toBeLessThan(tolerance[c.name]!);
        if (bitExact()) expect(Array.from(got.data)).toEqual(Array.from(tensors[k]!.data));
      }
    });
  }

  it('the epoch loop reports the split, valLoss per epoch, and ends saying it stopped early with the best weights', () => {
    const c = fixture.cases.find((x) => x.name === 'linear_regression')!;
    const messages = collect(spec(c.spec));
    expect(messages[1]).toEqual({ type: 'split', trainRows: 12, validationRows: 3, validationIndices: c.valRows });
    const events = messages.flatMap((m) => (m.type === 'epochs' ? m.events : []));
    expect(events.map((e) => e.epoch)).toEqual(Array.from({ length: c.epochsRun }, (_, i) => i + 1));
    expect(maxRel(events.map((e) => e.valLoss!), c.valLosses)).toBeLessThan(1e-5);
    const end = endOf(messages);
    expect(end).toMatchObject({
      outcome: 'succeeded',
      epoch: c.stoppedEpoch,
      stoppedEarly: { epoch: c.stoppedEpoch, bestEpoch: c.bestEpoch },
      best: { epoch: c.bestEpoch, valLoss: events[c.bestEpoch - 1]!.valLoss },
      valLoss: events.at(-1)!.valLoss,
    });
    expect(c.stoppedEpoch! - c.bestEpoch).toBe(5); // patience
    if (end.outcome === 'succeeded') {
      const sd = loadSafetensors(end.safetensors).tensors;
      expect(maxRel(sd.weight!.data, tensors['linear_regression.best.weight']!.data)).toBeLessThan(1e-5);
      // The last epoch's weights differ from the best: the checkpoint really is the best epoch's.
      expect(maxRel(tensors['linear_regression.last.weight']!.data, tensors['linear_regression.best.weight']!.data)).toBeGreaterThan(1e-5);
    }
  });
});

const regression = (extra: Partial<JobSpecInput['training']> = {}, epochs = 20): JobSpecInput => ({
  model: { kind: 'linear_regression', inputDim: 2, outputDim: 1 },
  data: {
    kind: 'inline',
    x: [[1, 2], [0, 1], [2, 2], [-1, 0], [3, 1], [0.5, -1], [2, 0], [1, 1]],
    y: [[1], [0], [2], [-1], [2.5], [0], [1.5], [1]],
  },
  training: { epochs, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.05 }, ...extra },
  seed: 5,
});

describe('validation rules', () => {
  it('a fraction split trains exactly like the same rows given as inline data and inline validation', () => {
    const bySplit = Trainer.create(spec(regression({ validation: { kind: 'fraction', fraction: 0.25 } })));
    const rows = Array.from(bySplit.validationRows!);
    expect(rows).toHaveLength(2); // floor(0.25 * 8 + 0.5)
    const base = regression();
    if (base.data.kind !== 'inline') throw new Error('inline expected');
    const keep = (m: number[][], val: boolean) => m.filter((_, i) => rows.includes(i) === val);
    const byHand = Trainer.create(
      spec({
        ...base,
        data: { kind: 'inline', x: keep(base.data.x, false), y: keep(base.data.y, false) },
        training: { ...base.training, validation: { kind: 'inline', x: keep(base.data.x, true), y: keep(base.data.y, true) } },
      }),
    );
    while (!bySplit.done) {
      expect(bySplit.runEpoch()).toBe(byHand.runEpoch());
      expect(bySplit.lastValLoss).toBe(byHand.lastValLoss);
    }
    expect(Array.from(loadSafetensors(bySplit.saveModel()).tensors.weight!.data)).toEqual(
      Array.from(loadSafetensors(byHand.saveModel()).tensors.weight!.data),
    );
  });

  it('valLoss is measured after the epoch: with the training rows as validation it is the next epoch\'s loss', () => {
    const base = regression();
    if (base.data.kind !== 'inline') throw new Error('inline expected');
    const t = Trainer.create(spec({ ...base, training: { ...base.training, validation: { kind: 'inline', x: base.data.x, y: base.data.y } } }));
    const losses: number[] = [];
    const vals: number[] = [];
    while (!t.done) {
      losses.push(t.runEpoch());
      vals.push(t.lastValLoss!);
    }
    expect(vals.slice(0, -1)).toEqual(losses.slice(1));
  });

  it('a job without validation draws and trains exactly as before (no split, no valLoss)', () => {
    const messages = collect(spec(regression()));
    expect(messages.some((m) => m.type === 'split')).toBe(false);
    const events = messages.flatMap((m) => (m.type === 'epochs' ? m.events : []));
    expect(events.every((e) => !('valLoss' in e))).toBe(true);
    expect(endOf(messages)).not.toHaveProperty('stoppedEarly');
  });

  it('refuses fractions that leave no row on one side, naming the rows and a usable fraction', () => {
    expect(checkSpecData(spec(regression({ validation: { kind: 'fraction', fraction: 0.05 } })))).toMatch(
      /fraction 0.05 of the data's 8 rows holds out 0 rows; at least 1 is needed \(use fraction >= 0.0625\)/,
    );
    expect(checkSpecData(spec(regression({ validation: { kind: 'fraction', fraction: 0.95 } })))).toMatch(
      /holds out 8 rows, leaving 0 to train on/,
    );
    expect(checkSpecData(spec(regression({ validation: { kind: 'fraction', fraction: 0.5 } })))).toBeNull();
    expect(checkSpecData(spec(regression({ validation: { kind: 'inline', x: [[1]], y: [[1]] } })))).toBe(
      'training.validation.x row 0 has 1 columns but the model expects inputDim=2',
    );
    // The worker refuses it too (a dataset's row count is only known there).
    const end = endOf(collect(spec(regression({ validation: { kind: 'fraction', fraction: 0.05 } }))));
    expect(end).toMatchObject({ outcome: 'invalid_data', message: expect.stringMatching(/holds out 0 rows/) });
  });

  it('takes a validation dataset from the task, checking its width', () => {
    const s = spec(regression({ validation: { kind: 'dataset', id: 'd_val' } }));
    const ok = Trainer.create(s, undefined, undefined, { validationData: { n: 2, x: new Float32Array([1, 1, 2, 0]), y: new Float32Array([1, 1.5]) } });
    ok.runEpoch();
    expect(Number.isFinite(ok.lastValLoss)).toBe(true);
    expect(() => Trainer.create(s, undefined, undefined, { validationData: { n: 2, x: new Float32Array([1, 1, 2]), y: new Float32Array([1, 1.5]) } })).toThrow(
      /validation dataset d_val has 1.5 input and 1 target columns but the model expects inputDim=2/,
    );
  });
});

describe('early stopping', () => {
  it('stops after `patience` epochs without an improvement of more than minDelta, keeping the best weights', () => {
    // A large minDelta: only the first epoch counts as an improvement.
    const s = spec(regression({ validation: { kind: 'fraction', fraction: 0.25 }, earlyStopping: { patience: 3, minDelta: 1e9 } }));
    const end = endOf(collect(s));
    expect(end).toMatchObject({ outcome: 'succeeded', epoch: 4, stoppedEarly: { epoch: 4, bestEpoch: 1 }, best: { epoch: 1 } });
    const one = Trainer.create(s);
    one.runEpoch();
    if (end.outcome === 'succeeded') expect(Array.from(end.safetensors)).toEqual(Array.from(one.saveModel()));
  });

  it('runs all epochs while validation keeps improving; the checkpoint is still the best epoch', () => {
    const s = spec(regression({ validation: { kind: 'fraction', fraction: 0.25 }, earlyStopping: { patience: 50 } }));
    const end = endOf(collect(s));
    expect(end).toMatchObject({ outcome: 'succeeded', epoch: 20 });
    expect(end).not.toHaveProperty('stoppedEarly');
  });
});

describe('warm start', () => {
  it('replaces the initial weights after the seed\'s draws: a stateless run continues bit for bit', () => {
    const first = Trainer.create(spec(regression({}, 10)));
    const losses: number[] = [];
    while (!first.done) losses.push(first.runEpoch());
    const straight = Trainer.create(spec(regression({}, 15)));
    const straightLosses: number[] = [];
    while (!straight.done) straightLosses.push(straight.runEpoch());

    const messages = collect(spec(regression({}, 5)), { initialWeights: first.saveModel() });
    const warm = messages.flatMap((m) => (m.type === 'epochs' ? m.events.map((e) => e.loss) : []));
    expect([...losses, ...warm]).toEqual(straightLosses);
    const end = endOf(messages);
    if (end.outcome === 'succeeded') expect(Array.from(end.safetensors)).toEqual(Array.from(straight.saveModel()));
  });

  it('ends invalid_data naming the names and shapes that do not fit', () => {
    const other = Trainer.create(spec({ ...regression(), model: { kind: 'linear_regression', inputDim: 3, outputDim: 1 }, data: { kind: 'random', n: 4 } }));
    const end = endOf(collect(spec(regression()), { initialWeights: other.saveModel() }));
    expect(end).toMatchObject({
      outcome: 'invalid_data',
      message: 'warmStart: the checkpoint does not fit this model (linear_regression): "weight" is [1, 3] but this model\'s is [1, 2]',
    });
    const net = spec({ model: { kind: 'two_layer_net', inputDim: 2, hiddenDim: 4, outputDim: 1, bias: true }, data: { kind: 'random', n: 3 }, training: { epochs: 1, loss: 'sse', optimizer: { kind: 'sgd', lr: 0.1 } }, seed: 0 });
    expect(checkWarmStartShapes(spec(regression()), stateDictShapes(net.model))).toBe(
      'the warmStart checkpoint does not fit this model (linear_regression): missing "weight", "bias"; unexpected "0.weight", "0.bias", "2.weight", "2.bias"',
    );
    expect(stateDictShapes(net.model)).toEqual(
      Object.fromEntries(Object.entries(Trainer.create(net).model.stateDict()).map(([k, t]: [string, Tensor]) => [k, t.shape])),
    );
  });
});
