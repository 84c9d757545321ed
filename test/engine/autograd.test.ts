/** Autograd semantics, each against what PyTorch 1.13 does (messages quoted from PyTorch where it has one). */
import { afterEach, describe, expect, it } from 'vitest';
import {
  linear,
  AutogradError,
  isGradEnabled,
  enableGrad,
  noGrad,
  ones,
  ShapeError,
  tensor,
  zeros,
  Tensor,
} from '../../src/engine/index.js';
import * as gemm from '../../src/engine/kernels/gemm.js';

const arr = (t: Tensor | null): number[] => Array.from(t!.data);

describe('gradient accumulation and graph release', () => {
  it('accumulates .grad across backward calls until zeroed', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    w.mul(w).sum().backward();
    expect(arr(w.grad)).toEqual([2, 4, 6]);
    w.mul(w).sum().backward();
    expect(arr(w.grad)).toEqual([4, 8, 12]);
    noGrad(() => w.grad!.zero_());
    w.mul(3).sum().backward();
    expect(arr(w.grad)).toEqual([3, 3, 3]);
  });

  it('accumulates through mm into an existing .grad (the path that adds straight into the leaf storage)', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]]);
    const w = tensor([[0.5, -1], [2, 0.25]], { requiresGrad: true });
    x.mm(w).sum().backward();
    const once = arr(w.grad); // xᵀ·1 = column sums of x, repeated
    expect(once).toEqual([9, 9, 12, 12]);
    x.mm(w).sum().backward();
    expect(arr(w.grad)).toEqual(once.map((v) => 2 * v));
    // The same leaf on both sides: d(sum(w·w))/dw = 1·wᵀ + wᵀ·1, accumulated into the existing grad.
    noGrad(() => w.grad!.zero_());
    w.mm(w).sum().backward();
    // d/dw_kj of Σ_ij (w·w)_ij = Σ_i w_ik (row sums of wᵀ as column) + Σ_j' w_jj'
    const W = [[0.5, -1], [2, 0.25]];
    const expected = [0, 1].flatMap((k) => [0, 1].map((j) => W[0][k] + W[1][k] + W[j][0] + W[j][1]));
    expect(arr(w.grad)).toEqual(expected);
  });

  it('accumulates through linear into existing .grads of input, weight and bias', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]], { requiresGrad: true });
    const w = tensor([[0.5, -1], [2, 0.25], [1, 1]], { requiresGrad: true });
    const b = tensor([0.1, 0.2, 0.3], { requiresGrad: true });
    const gOut = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    linear(x, w, b).backward(gOut);
    const once = [arr(x.grad), arr(w.grad), arr(b.grad)];
    expect(once[2]).toEqual([12, 15, 18]);
    expect(once[1]).toEqual([48, 60, 57, 72, 66, 84]); // Gᵀ·X
    linear(x, w, b).backward(gOut);
    expect([arr(x.grad), arr(w.grad), arr(b.grad)]).toEqual(once.map((g) => g.map((v) => 2 * v)));
  });

  it('sums the gradients of a tensor used several times (a * a + a)', () => {
    const a = tensor([0.5, -2], { requiresGrad: true });
    a.mul(a).add(a).sum().backward();
    expect(arr(a.grad)).toEqual([2, -3]);
  });

  it('handles a diamond: both paths reach the shared node once, with the summed gradient', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const h = a.exp();
    const out = h.mul(2).add(h.pow(2)).sum();
    out.backward();
    const e = [Math.exp(1), Math.exp(2)];
    const expected = e.map((v) => (2 + 2 * v) * v);
    arr(a.grad).forEach((g, i) => expect(g).toBeCloseTo(expected[i], 4));
  });

  it('releases the graph after backward: a second backward throws PyTorch\'s message', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const loss = a.exp().sum();
    loss.backward();
    expect(() => loss.backward()).toThrow(AutogradError);
    expect(() => loss.backward()).toThrow(/^Trying to backward through the graph a second time/);
  });

  it('retainGraph keeps the graph for another backward (gradients add up)', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const loss = a.exp().sum();
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    expect(arr(a.grad)).toEqual(Array.from(Float32Array.from([2 * Math.exp(1), 2 * Math.exp(2)])).map((v) => Math.fround(v)));
    expect(() => loss.backward()).toThrow(/backward through the graph a second time/);
  });

  it('like PyTorch, a graph without saved tensors (add, sum) may be run again', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const loss = a.add(1).sum();
    loss.backward();
    loss.backward();
    expect(arr(a.grad)).toEqual([2, 2]);
  });

  it('backward of a non-scalar without gradient throws PyTorch\'s message; with a gradient it works', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const y = a.mul(2);
    expect(() => y.backward()).toThrow(/^grad can be implicitly created only for scalar outputs/);
    y.backward(tensor([1, 0.5, -1]));
    expect(arr(a.grad)).toEqual([2, 1, -2]);
  });

  it('rejects a gradient of the wrong shape, naming both shapes', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    expect(() => a.mul(2).backward(tensor([1, 2]))).toThrow(
      'Mismatch in shape: grad_output[0] has a shape of [2] and output[0] has a shape of [3].',
    );
  });

  it('backward of a tensor that does not require grad throws', () => {
    expect(() => tensor([1, 2]).sum().backward()).toThrow('element 0 of tensors does not require grad and does not have a grad_fn');
  });

  it('backward of a leaf itself accumulates into its own grad', () => {
    const a = tensor(3, { requiresGrad: true });
    a.backward();
    expect(a.grad!.item()).toBe(1);
  });

  it('non-leaf tensors get no .grad', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const h = a.mul(2);
    h.sum().backward();
    expect(h.grad).toBeNull();
    expect(arr(a.grad)).toEqual([2, 2]);
  });
});

describe('isLeaf, requiresGrad, noGrad, detach', () => {
  afterEach(() => expect(isGradEnabled()).toBe(true));

  it('user-created tensors are leaves; op results on grad-requiring inputs are not', () => {
    const a = tensor([1], { requiresGrad: true });
    const b = tensor([2]);
    expect(a.isLeaf).toBe(true);
    expect(b.isLeaf).toBe(true);
    const c = a.mul(b);
    expect(c.isLeaf).toBe(false);
    expect(c.requiresGrad).toBe(true);
    expect(c.gradFn!.name).toBe('MulBackward0');
    const d = b.mul(2);
    expect(d.isLeaf).toBe(true);
    expect(d.requiresGrad).toBe(false);
  });

  it('noGrad records nothing and restores the mode, even after a throw; enableGrad re-enables inside', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const c = noGrad(() => a.mul(2));
    expect(c.requiresGrad).toBe(false);
    expect(c.gradFn).toBeNull();
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const d = noGrad(() => enableGrad(() => a.mul(2)));
    expect(d.requiresGrad).toBe(true);
    expect(noGrad(() => isGradEnabled())).toBe(false);
  });

  it('detach shares storage and version counter but has no history', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const h = a.mul(3);
    const d = h.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    expect(d.data).toBe(h.data);
    d.add_(1);
    expect(arr(h)).toEqual([4, 7]);
    expect(h.version).toBe(1);
  });

  it('requiresGrad_ cannot be switched off on a non-leaf', () => {
    const a = tensor([1], { requiresGrad: true });
    expect(() => a.mul(2).requiresGrad_(false)).toThrow(/only change requires_grad flags of leaf variables/);
  });
});

describe('in-place rules', () => {
  it('an in-place change of a leaf that requires grad throws outside noGrad, with PyTorch\'s message', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    for (const f of [() => w.add_(1), () => w.sub_(tensor([1, 1])), () => w.mul_(2), () => w.zero_(), () => w.copy_(tensor([0, 0])), () => w.maskedFill_(tensor([1, 0]), 0)]) {
      expect(f).toThrow(AutogradError);
      expect(f).toThrow('a leaf Variable that requires grad is being used in an in-place operation.');
    }
    expect(arr(w)).toEqual([1, 2]);
    noGrad(() => w.sub_(tensor([0.5, 0.5])));
    expect(arr(w)).toEqual([0.5, 1.5]);
    expect(w.isLeaf).toBe(true);
  });

  it('a view of such a leaf cannot be modified in place either', () => {
    const w = tensor([1, 2, 3, 4], { requiresGrad: true });
    const v = w.reshape([2, 2]);
    expect(() => v.add_(1)).toThrow('a view of a leaf Variable that requires grad is being used in an in-place operation.');
  });

  it('an in-place change of a view is recorded on its base (PyTorch\'s CopySlices), and every view follows', () => {
    const a = tensor([1, 2, 3, 4], { requiresGrad: true });
    const h = a.mul(2);
    const v = h.reshape([2, 2]);
    const sibling = h.reshape([4, 1]);
    v.mul_(3); // h = 6a through the view
    expect(arr(h)).toEqual([6, 12, 18, 24]);
    expect(h.gradFn!.name).toBe('MulBackward0');
    h.sum().backward(undefined, { retainGraph: true });
    expect(arr(a.grad)).toEqual([6, 6, 6, 6]);
    sibling.mul(tensor([[1], [0], [0], [1]])).sum().backward();
    expect(arr(a.grad)).toEqual([12, 6, 6, 12]);
    // A base without history gets one when a view of it is changed by an operand that requires grad.
    const w = tensor([1, 2, 3, 4], { requiresGrad: true });
    const buf = zeros([4]);
    buf.reshape([2, 2]).add_(w.reshape([2, 2]), { alpha: 2 });
    expect(buf.requiresGrad).toBe(true);
    buf.mul(tensor([1, 2, 3, 4])).sum().backward();
    expect(arr(w.grad)).toEqual([2, 4, 6, 8]);
  });

  it('a view made before an in-place change of its base follows the base\'s new history (as in PyTorch)', () => {
    const a = tensor([1, 2, 3, 4], { requiresGrad: true });
    const h = a.mul(2);
    const v = h.reshape([2, 2]);
    h.mul_(3); // h = 6a, and v sees the same storage
    expect(arr(v)).toEqual([6, 12, 18, 24]);
    v.sum().backward();
    expect(arr(a.grad)).toEqual([6, 6, 6, 6]);
    // A base that starts without history: the view picks up the history the in-place op gave it.
    const w = tensor([1, 2], { requiresGrad: true });
    const buf = zeros([2]);
    const bv = buf.reshape([2, 1]);
    expect(bv.requiresGrad).toBe(false);
    buf.add_(w);
    expect(bv.requiresGrad).toBe(true);
    expect(bv.isLeaf).toBe(false);
    bv.mul(5).sum().backward();
    expect(arr(w.grad)).toEqual([5, 5]);
  });

  it('every in-place op bumps the version counter (views share it)', () => {
    const a = zeros([2, 2]);
    const v = a.reshape(-1);
    expect(a.version).toBe(0);
    a.add_(1);
    a.mul_(2);
    v.maskedFill_(tensor([1, 0, 0, 0]), 5);
    expect(a.version).toBe(3);
    expect(v.version).toBe(3);
    expect(arr(a)).toEqual([5, 2, 2, 2]);
  });

  it('modifying a tensor saved for backward is detected at backward (PyTorch\'s message)', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const h = w.mul(2);
    const y = h.pow(2); // saves h
    h.add_(1);
    expect(() => y.sum().backward()).toThrow(
      /^one of the variables needed for gradient computation has been modified by an inplace operation: \[torch\.FloatTensor \[2\]\], which is output 0 of AddBackward0, is at version 1; expected version 0 instead/,
    );
  });

  it('an op output saved by its own backward (exp) is protected too', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const e = w.exp();
    const loss = e.sum();
    e.mul_(2);
    expect(() => loss.backward()).toThrow(/modified by an inplace operation/);
  });

  it('changes to tensors NOT saved for backward are allowed (add does not save its inputs)', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const b = tensor([5, 5]);
    const y = w.add(b);
    b.add_(1);
    y.sum().backward();
    expect(arr(w.grad)).toEqual([1, 1]);
  });

  it('in-place ops on non-leaf tensors are recorded: gradients flow through the new history', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor([4, 5, 6], { requiresGrad: true });
    const h = a.mul(1);
    h.mul_(b); // h = a * b
    h.add_(a, { alpha: 2 }); // h = a * b + 2a
    h.maskedFill_(tensor([0, 1, 0]), 0);
    expect(h.gradFn!.name).toBe('MaskedFillBackward0');
    expect(arr(h)).toEqual([6, 0, 24]);
    h.sum().backward();
    expect(arr(a.grad)).toEqual([6, 0, 8]);
    expect(arr(b.grad)).toEqual([1, 0, 3]);
  });

  it('an in-place op on a tensor that needs no grad, with an operand that does, starts a history', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const buf = zeros([2]);
    buf.add_(w);
    buf.mul_(3);
    expect(buf.requiresGrad).toBe(true);
    buf.sum().backward();
    expect(arr(w.grad)).toEqual([3, 3]);
  });

  it('copy_ sends the gradient to the source and none to the overwritten values', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const s = tensor([7, 8], { requiresGrad: true });
    const h = a.mul(5);
    h.copy_(s);
    h.mul(2).sum().backward();
    expect(arr(s.grad)).toEqual([2, 2]);
    expect(a.grad).toBeNull();
  });
});

describe('no gradient work for inputs that do not need it', () => {
  it('x.mm(w) with x not requiring grad runs exactly one sgemm in backward: dW = xᵀ·G', () => {
    const calls: { transA: boolean; transB: boolean; M: number; N: number; K: number }[] = [];
    const real = gemm.sgemm;
    gemm.setGemmKernel((args) => {
      calls.push({ transA: args.transA, transB: args.transB, M: args.M, N: args.N, K: args.K });
      real(args);
    });
    try {
      const x = ones([4, 3]);
      const w = ones([3, 2], { requiresGrad: true });
      const y = x.mm(w);
      expect(y.gradFn!.edges[0]).toBeNull();
      y.sum().backward();
      expect(calls).toEqual([
        { transA: false, transB: false, M: 4, N: 2, K: 3 },
        { transA: true, transB: false, M: 3, N: 2, K: 4 },
      ]);
      expect(x.grad).toBeNull();
      expect(arr(w.grad)).toEqual([4, 4, 4, 4, 4, 4]);
    } finally {
      gemm.setGemmKernel(real);
    }
  });

  it('the backward closure is told which inputs need a gradient', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4]);
    const y = a.mul(b);
    expect(y.gradFn!.needs).toEqual([true, false]);
  });
});

describe('NaN and Infinity propagate, never hidden', () => {
  it('forward: relu, clamp, max, sum, exp, log keep NaN/Inf', () => {
    const x = tensor([NaN, -1, 2]);
    expect(Number.isNaN(x.relu().data[0])).toBe(true);
    expect(Number.isNaN(x.clamp({ min: 0 }).data[0])).toBe(true);
    expect(Number.isNaN(x.clamp({ min: -0.5, max: 0.5 }).data[0])).toBe(true);
    expect(Number.isNaN(x.max().item())).toBe(true);
    expect(Number.isNaN(x.amax().item())).toBe(true);
    expect(Number.isNaN(x.sum().item())).toBe(true);
    expect(tensor([0]).log().item()).toBe(-Infinity);
    expect(tensor([100]).exp().item()).toBe(Infinity);
    const m = tensor([[1, NaN, 3]]).max(1);
    expect(Number.isNaN(m.values.item())).toBe(true);
    expect(m.indices.item()).toBe(1);
  });

  it('backward: an Inf/NaN gradient reaches the leaf as is', () => {
    const a = tensor([0, 1], { requiresGrad: true });
    a.log().sum().backward();
    expect(arr(a.grad)).toEqual([Infinity, 1]);
    const b = tensor([NaN, 1], { requiresGrad: true });
    b.mul(b).sum().backward(); // d(b*b)/db = 2b: NaN where b is NaN
    expect(Number.isNaN(b.grad!.data[0])).toBe(true);
    expect(b.grad!.data[1]).toBe(2);
    const c = tensor([1, 2], { requiresGrad: true });
    c.mul(2).backward(tensor([NaN, Infinity]));
    expect(Number.isNaN(c.grad!.data[0])).toBe(true);
    expect(c.grad!.data[1]).toBe(Infinity);
  });
});

describe('error messages name the shapes', () => {
  it('mm: PyTorch\'s message', () => {
    expect(() => zeros([64, 1000]).mm(zeros([100, 10]))).toThrow(
      new ShapeError('mat1 and mat2 shapes cannot be multiplied (64x1000 and 100x10)'),
    );
    expect(() => zeros([3]).mm(zeros([3, 2]))).toThrow(/self must be a matrix/);
  });

  it('broadcasting: PyTorch\'s message plus both shapes', () => {
    expect(() => zeros([2, 3]).add(zeros([4]))).toThrow(
      /^The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1 \(shapes \[2, 3\] and \[4\]\)/,
    );
  });

  it('matmul, reshape, dims', () => {
    expect(() => zeros([2, 3, 4]).matmul(zeros([5, 6]))).toThrow('mat1 and mat2 shapes cannot be multiplied (2x3x4 and 5x6)');
    expect(() => zeros([4]).matmul(zeros([5]))).toThrow(/expected tensor \[4\] and src \[5\]/);
    expect(() => zeros([3, 4]).reshape([5, -1])).toThrow("shape '[5, -1]' is invalid for input of size 12");
    expect(() => zeros([3, 4]).reshape([-1, -1])).toThrow('only one dimension can be inferred');
    expect(() => zeros([3, 4]).sum(2)).toThrow('Dimension out of range (expected to be in range of [-2, 1], but got 2)');
    expect(() => zeros([3, 4]).sum([1, -1])).toThrow('dim 1 appears multiple times in the list of dims');
    expect(() => zeros([2, 2, 2]).t()).toThrow(/t\(\) expects a tensor with <= 2 dimensions, but self is 3D/);
    expect(() => zeros([2, 3]).add_(zeros([3, 3]))).toThrow(/output with shape \[2, 3\] doesn't match the broadcast shape/);
    expect(() => zeros([2, 3]).item()).toThrow('a Tensor with 6 elements cannot be converted to Scalar (shape [2, 3])');
  });
});
