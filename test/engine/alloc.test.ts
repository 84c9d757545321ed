/**
 * Op results may live in uninitialised storage (src/engine/kernels/alloc.ts; Node installs Buffer.allocUnsafeSlow):
 * that is only sound if every op using it writes every element. Proved here by an allocator that hands out
 * NaN-poisoned arrays: every op's forward result and gradients, and the tutorial's 500 losses and final weights,
 * must equal, bit for bit, what zeroed storage gives, on every kernel path.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_ALLOC_MIN, allocResult, setResultAllocator } from '../../src/engine/kernels/alloc.js';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/engine/index.js';
import { installNodeAllocator } from '../../src/runtime/node-alloc.js';
import { forEachKernel } from '../helpers/kernels.js';

const poisoned = (n: number) => new Float32Array(n).fill(Number.NaN);

afterEach(() => {
  installNodeAllocator(); // what the Node hosts run with (registerNativeKernels installs it)
});

/** Every op that takes allocResult storage, on tensors above the threshold, with its gradients. */
function opsProgram(): Float32Array[] {
  manualSeed(3);
  const n = 64;
  const a = randn([n, 96], { requiresGrad: true });
  const b = randn([n, 96], { requiresGrad: true });
  const row = randn([96], { requiresGrad: true });
  const w = randn([96, 80], { requiresGrad: true });
  expect(n * 96).toBeGreaterThanOrEqual(HOST_ALLOC_MIN);
  const outs: Tensor[] = [
    a.mul(0.5), a.add(2), a.sub(1.5), a.div(3), a.mul(b), a.add(row), a.sub(b), a.div(b.mul(b).add(1)),
    a.pow(2), a.pow(3), a.exp(), a.tanh(), a.sigmoid(), a.relu(), a.clamp({ min: -0.5, max: 0.5 }), a.neg(),
    a.mm(w), a.clamp({ min: 0 }).mm(w),
  ];
  const loss = outs.map((t) => t.sum()).reduce((x, y) => x.add(y));
  loss.backward();
  return [...outs.map((t) => t.data), a.grad!.data, b.grad!.data, row.grad!.data, w.grad!.data];
}

function tutorial(steps: number): { losses: number[]; w1: Float32Array; w2: Float32Array } {
  manualSeed(0);
  const x = randn([64, 1000]);
  const y = randn([64, 10]);
  const w1 = randn([1000, 100], { requiresGrad: true });
  const w2 = randn([100, 10], { requiresGrad: true });
  const losses: number[] = [];
  for (let t = 0; t < steps; t++) {
    const loss = x.mm(w1).clamp({ min: 0 }).mm(w2).sub(y).pow(2).sum();
    losses.push(loss.item());
    loss.backward();
    noGrad(() => {
      w1.sub_(w1.grad!.mul(1e-6));
      w2.sub_(w2.grad!.mul(1e-6));
      w1.grad!.zero_();
      w2.grad!.zero_();
    });
  }
  return { losses, w1: w1.data.slice(), w2: w2.data.slice() };
}

describe('op results in uninitialised storage', () => {
  it('the allocator is used from HOST_ALLOC_MIN elements on, and returns exactly n elements', () => {
    setResultAllocator(poisoned);
    expect(Number.isNaN(allocResult(HOST_ALLOC_MIN)[0])).toBe(true);
    expect(allocResult(HOST_ALLOC_MIN - 1)[0]).toBe(0);
    expect(installNodeAllocator()).toBe(true);
    expect(allocResult(HOST_ALLOC_MIN + 3)).toHaveLength(HOST_ALLOC_MIN + 3);
  });

  forEachKernel((kernel) => {
    it(`${kernel}: every op's result and gradient are the same bits with NaN-poisoned storage`, () => {
      setResultAllocator(null);
      const zeroed = opsProgram();
      setResultAllocator(poisoned);
      const dirty = opsProgram();
      expect(dirty.length).toBe(zeroed.length);
      for (let i = 0; i < zeroed.length; i++) expect(Array.from(dirty[i]), `output ${i}`).toEqual(Array.from(zeroed[i]));
    });

    it(`${kernel}: the tutorial's losses and final weights are the same bits with NaN-poisoned storage`, () => {
      const steps = kernel === 'js' ? 3 : 60;
      setResultAllocator(null);
      const zeroed = tutorial(steps);
      setResultAllocator(poisoned);
      const dirty = tutorial(steps);
      expect(dirty.losses).toEqual(zeroed.losses);
      expect(Array.from(dirty.w1)).toEqual(Array.from(zeroed.w1));
      expect(Array.from(dirty.w2)).toEqual(Array.from(zeroed.w2));
    });
  });
});
