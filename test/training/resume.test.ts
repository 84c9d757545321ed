/**
 * Snapshot/resume is bitwise, and the epoch loop's messaging (coalescing, checkpoints, cancel, drain, divergence)
 * keeps its promises. No threads here: the loop takes a `post` function.
 */
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/engine/index.js';
import { jobSpecSchema, type JobSpecInput, type JobSpec } from '../../src/spec/job-spec.js';
import { runTrainingLoop } from '../../src/training/loop.js';
import { Control, type WorkerMessage } from '../../src/training/protocol.js';
import { Trainer } from '../../src/training/trainer.js';

function spec(input: JobSpecInput): JobSpec & { seed: number } {
  return jobSpecSchema.parse(input) as JobSpec & { seed: number };
}
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const specs: Record<string, JobSpec & { seed: number }> = {
  'tutorial net, tutorial SGD': spec({
    model: { kind: 'two_layer_net', inputDim: 20, hiddenDim: 8, outputDim: 3 },
    data: { kind: 'random', n: 10 },
    training: { epochs: 30, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-3 } },
    seed: 7,
  }),
  'Sequential with biases, Adam (amsgrad), mini-batches': spec({
    model: { kind: 'two_layer_net', inputDim: 6, hiddenDim: 5, outputDim: 2, bias: true, init: 'default' },
    data: { kind: 'random', n: 13 },
    training: { epochs: 25, loss: 'mse', batchSize: 4, optimizer: { kind: 'adam', lr: 0.01, amsgrad: true, weightDecay: 0.01 } },
    seed: 11,
  }),
  'linear regression, SGD with nesterov momentum': spec({
    model: { kind: 'linear_regression', inputDim: 3, outputDim: 2 },
    data: { kind: 'inline', x: [[1, 2, 3], [0, 1, 0], [2, 2, 1], [-1, 0, 1]], y: [[1, 0], [0, 1], [1, 1], [0, 0]] },
    training: { epochs: 40, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true } },
    seed: 3,
  }),
  'Adam + cosine schedule past tMax, mini-batches, validation fraction': spec({
    model: { kind: 'two_layer_net', inputDim: 6, hiddenDim: 5, outputDim: 2, bias: true, init: 'default' },
    data: { kind: 'random', n: 13 },
    training: {
      epochs: 30,
      loss: 'mse',
      batchSize: 4,
      optimizer: { kind: 'adam', lr: 0.02 },
      scheduler: { kind: 'cosine', tMax: 7, etaMin: 0.001 },
      validation: { kind: 'fraction', fraction: 0.3 },
    },
    seed: 12,
  }),
  'tutorial net + StepLR (torch.optim.SGD), early stopping that has not stopped yet at the snapshot': spec({
    model: { kind: 'two_layer_net', inputDim: 20, hiddenDim: 8, outputDim: 3 },
    data: { kind: 'random', n: 10 },
    training: {
      epochs: 60,
      loss: 'sse',
      optimizer: { kind: 'sgd', lr: 1e-3, momentum: 0.5 },
      scheduler: { kind: 'step', stepSize: 4, gamma: 0.7 },
      validation: { kind: 'fraction', fraction: 0.3 },
      earlyStopping: { patience: 3, minDelta: 0 },
    },
    seed: 7,
  }),
};

describe('snapshot and resume', () => {
  for (const [name, s] of Object.entries(specs)) {
    it(`${name}: k epochs + snapshot + resume in a fresh trainer == uninterrupted, bit for bit`, () => {
      const straight = Trainer.create(s);
      const straightLosses: number[] = [];
      const straightVal: (number | null)[] = [];
      while (!straight.done) {
        straightLosses.push(straight.runEpoch());
        straightVal.push(straight.lastValLoss);
      }

      // Before early stopping ends the run (when it does), and after an improvement so that best weights exist.
      const k = Math.min(Math.floor(s.training.epochs / 3), straight.epoch - 2);
      const first = Trainer.create(s);
      const losses: number[] = [];
      const vals: (number | null)[] = [];
      for (let i = 0; i < k; i++) {
        losses.push(first.runEpoch());
        vals.push(first.lastValLoss);
      }
      // Round-trip through bytes, as the store does; the first trainer is dropped.
      const snap = first.snapshot();
      const resumed = Trainer.create(s, undefined, {
        epoch: snap.epoch,
        safetensors: snap.safetensors.slice(),
        resumeState: snap.resumeState.slice(),
      });
      expect(resumed.epoch).toBe(k);
      while (!resumed.done) {
        losses.push(resumed.runEpoch());
        vals.push(resumed.lastValLoss);
      }

      expect(losses).toEqual(straightLosses);
      expect(vals).toEqual(straightVal);
      expect(resumed.lr).toBe(straight.lr);
      expect(resumed.earlyStopping).toEqual(straight.earlyStopping);
      expect(bytesEqual(resumed.saveModel(), straight.saveModel())).toBe(true);
      if (s.training.earlyStopping) {
        // The best epoch is before the snapshot and training stopped after it: the best weights came through it.
        expect(straight.earlyStopping).toMatchObject({ stopped: true, bestEpoch: expect.any(Number) });
        expect(straight.earlyStopping!.bestEpoch).toBeLessThanOrEqual(k);
        expect(straight.epoch).toBeLessThan(s.training.epochs);
      }
      const [a, b] = [resumed.finalModel(), straight.finalModel()];
      expect(a.epoch).toBe(b.epoch);
      expect(bytesEqual(a.safetensors, b.safetensors)).toBe(true);
    });
  }
});

function collect(s: JobSpec & { seed: number }, opts: { control?: Int32Array; flushMs?: number; onPost?: (m: WorkerMessage) => void; clock?: () => number } = {}) {
  const control = opts.control ?? new Int32Array(new SharedArrayBuffer(4));
  const messages: WorkerMessage[] = [];
  runTrainingLoop(
    { jobId: 'j', spec: s, control: control.buffer as SharedArrayBuffer, startedAtMs: 0, flushMs: opts.flushMs ?? 20, resumeSnapshotMs: 0 },
    (m) => {
      messages.push(m);
      opts.onPost?.(m);
    },
    opts.clock,
  );
  return messages;
}

describe('the epoch loop', () => {
  const s = specs['tutorial net, tutorial SGD']!;

  it('posts every epoch exactly once, in order, coalesced, then the final state dict', () => {
    let t = 0;
    // A fake clock advancing 7 ms an epoch: with flushMs 20, batches of about 3 epochs.
    const messages = collect(s, { clock: () => (t += 7) });
    const batches = messages.filter((m) => m.type === 'epochs');
    const epochs = batches.flatMap((m) => (m.type === 'epochs' ? m.events.map((e) => e.epoch) : []));
    expect(epochs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.length).toBeLessThan(30);
    const end = messages.at(-1)!;
    expect(end).toMatchObject({ type: 'end', outcome: 'succeeded', epoch: 30 });
    const straight = Trainer.create(s);
    while (!straight.done) straight.runEpoch();
    if (end.type === 'end' && end.outcome === 'succeeded') expect(bytesEqual(end.safetensors, straight.saveModel())).toBe(true);
  });

  it('posts a checkpoint every checkpointEvery epochs, after the epochs it covers', () => {
    const messages = collect({ ...s, checkpointEvery: 10 });
    const seen: number[] = [];
    const checkpoints: number[] = [];
    for (const m of messages) {
      if (m.type === 'epochs') seen.push(...m.events.map((e) => e.epoch));
      if (m.type === 'checkpoint') {
        expect(seen.at(-1)).toBe(m.epoch);
        checkpoints.push(m.epoch);
      }
    }
    expect(checkpoints).toEqual([10, 20]); // epoch 30 is the final state dict
  });

  it('stops after the current epoch when cancelled, and snapshots when draining', () => {
    const control = new Int32Array(new SharedArrayBuffer(4));
    const cancelled = collect(s, {
      control,
      flushMs: 0,
      onPost: (m) => m.type === 'epochs' && m.events.at(-1)!.epoch === 4 && Atomics.store(control, 0, Control.CANCEL),
    });
    expect(cancelled.at(-1)).toEqual({ type: 'end', outcome: 'cancelled', epoch: 4 });

    const drain = new Int32Array(new SharedArrayBuffer(4));
    const drained = collect(s, {
      control: drain,
      flushMs: 0,
      onPost: (m) => m.type === 'epochs' && m.events.at(-1)!.epoch === 6 && Atomics.store(drain, 0, Control.SNAPSHOT_AND_STOP),
    });
    expect(drained.at(-1)).toEqual({ type: 'end', outcome: 'interrupted', epoch: 6 });
    const snap = drained.at(-2)!;
    expect(snap).toMatchObject({ type: 'resume', epoch: 6 });
  });

  it('fails a diverging job with the epoch and loss, keeping the last finite weights as a checkpoint', () => {
    const diverging = spec({
      model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
      data: { kind: 'inline', x: [[1e3], [2e3]], y: [[1], [2]] },
      training: { epochs: 200, loss: 'sse', optimizer: { kind: 'sgd', lr: 1 } },
      seed: 0,
    });
    const messages = collect(diverging);
    const end = messages.at(-1)!;
    expect(end.type === 'end' && end.outcome).toBe('diverged');
    if (end.type !== 'end' || end.outcome !== 'diverged') return;
    expect(end.message).toMatch(/^diverged at epoch \d+ \(loss=(NaN|Infinity)\)$/);
    const k = Number(/epoch (\d+)/.exec(end.message)![1]);
    expect(end.epoch).toBe(k - 1);
    const epochs = messages.flatMap((m) => (m.type === 'epochs' ? m.events : []));
    expect(epochs.at(-1)!.epoch).toBe(k - 1);
    expect(epochs.every((e) => Number.isFinite(e.loss))).toBe(true);
    const ckpt = messages.find((m) => m.type === 'checkpoint');
    expect(ckpt && ckpt.type === 'checkpoint' && ckpt.epoch).toBe(k - 1);
    if (ckpt?.type === 'checkpoint') {
      const sd = loadSafetensors(ckpt.safetensors).tensors;
      expect(Object.values(sd).every((t) => t.data.every(Number.isFinite))).toBe(true);
    }
  });

  it('reports rows that do not fit the model as invalid data', () => {
    const bad = { ...specs['linear regression, SGD with nesterov momentum']! };
    bad.data = { kind: 'inline', x: [[1, 2]], y: [[1, 2]] };
    expect(collect(bad).at(-1)).toMatchObject({ type: 'end', outcome: 'invalid_data', message: expect.stringMatching(/inputDim=3/) });
  });
});
