/**
 * Issue 11: `two_layer_net 1-1-1, n=1e6, batchSize: 1` passed every limit, then died with a JS heap OOM in its
 * worker: the trainer built all 1e6 mini-batches (two tensors each, ~800 bytes of heap) before the first step.
 * Batches are now made as the loop reaches them. A child process with a 96 MB heap stands in for the worker's
 * resource limits; before the change it ran out of memory in Trainer.create.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchCount, batchesOf } from '../../src/training/data.js';
import { tensor } from '../../src/engine/index.js';

describe('mini-batches', () => {
  it('a million rows with batchSize 1 fit a 96 MB heap', () => {
    const code = `import('./src/training/trainer.ts').then(({ Trainer }) => {
      Trainer.create({
        model: { kind: 'two_layer_net', inputDim: 1, hiddenDim: 1, outputDim: 1, bias: false, init: 'randn' },
        data: { kind: 'random', n: 1000000 },
        training: { epochs: 1, loss: 'mse', batchSize: 1,
          optimizer: { kind: 'sgd', lr: 0.01, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false } },
        seed: 0,
      });
      console.log('created, heap MB', Math.round(process.memoryUsage().heapUsed / 2 ** 20));
    })`;
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', '-e', code], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/heap out of memory/);
    expect(r.status, r.stderr.slice(-500)).toBe(0);
    expect(r.stdout).toMatch(/^created/);
  });

  it('are the rows in order, the last one smaller, and counted as the loop sees them', () => {
    const x = tensor(Float32Array.from([1, 2, 3, 4, 5]), { shape: [5, 1] });
    const y = tensor(Float32Array.from([10, 20, 30, 40, 50]), { shape: [5, 1] });
    const batches = [...batchesOf({ x, y }, 2)];
    expect(batches.map((b) => Array.from(b.x.data))).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches.map((b) => Array.from(b.y.data))).toEqual([[10, 20], [30, 40], [50]]);
    expect(batchCount(5, 2)).toBe(3);
    expect([...batchesOf({ x, y })]).toHaveLength(1);
    expect(batchCount(5)).toBe(1);
    expect(batchCount(5, 5)).toBe(1);
  });
});
