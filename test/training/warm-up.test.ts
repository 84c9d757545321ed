/**
 * The training threads' warm-up (src/training/warm-up.ts) trains its tiny jobs to the end and leaves nothing a job
 * can see: the default generator's stream and a job's numbers are the same with or without it. Its control word
 * stops it.
 */
import { describe, expect, it } from 'vitest';
import { manualSeed, randn } from '../../src/engine/index.js';
import { jobSpecSchema, type JobSpec } from '../../src/spec/job-spec.js';
import { Control } from '../../src/training/protocol.js';
import { Trainer } from '../../src/training/trainer.js';
import { warmUpTraining } from '../../src/training/warm-up.js';

const job = jobSpecSchema.parse({
  name: 'small',
  model: { kind: 'two_layer_net', inputDim: 20, hiddenDim: 8, outputDim: 3 },
  data: { kind: 'random', n: 16 },
  training: { epochs: 5, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-3 } },
  seed: 7,
}) as JobSpec & { seed: number };

function losses(): number[] {
  const t = Trainer.create(job);
  const out: number[] = [];
  while (!t.done) out.push(t.runEpoch());
  return out;
}

describe('warmUpTraining', () => {
  it('trains every warm-up job to the end and changes nothing a job sees', () => {
    const before = losses();
    manualSeed(3);
    const a = Array.from(randn([8]).data);
    manualSeed(3);
    expect(warmUpTraining()).toBe(110);
    expect(Array.from(randn([8]).data)).toEqual(a);
    expect(losses()).toEqual(before);
  });

  it('stops at the next epoch once its control word is not RUN', () => {
    const control = new SharedArrayBuffer(4);
    Atomics.store(new Int32Array(control), 0, Control.CANCEL);
    expect(warmUpTraining(control)).toBe(0);
  });
});
