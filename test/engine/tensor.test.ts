/** Tensor creation, reading, factories, shape ops and the non-differentiable ops. */
import { describe, expect, it } from 'vitest';
import { cascadeSum, sumToShape } from '../../src/engine/kernels/elementwise.js';
import { loadFixture } from '../helpers/fixtures.js';
import {
  arange,
  full,
  Generator,
  manualSeed,
  matmul,
  normalFill,
  ones,
  rand,
  randn,
  tensor,
  uniformFill,
  ValueError,
  where,
  zeros,
} from '../../src/engine/index.js';

describe('creation and reading', () => {
  it('from nested arrays: shape, numel, data, toArray, item', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.numel()).toBe(6);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(tensor(2.5).shape).toEqual([]);
    expect(tensor(2.5).item()).toBe(2.5);
    expect(tensor(2.5).toArray()).toBe(2.5);
    expect(tensor([[[1], [2]]]).shape).toEqual([1, 2, 1]);
    expect(tensor([]).shape).toEqual([0]);
  });

  it('accepts booleans (as 0/1) and typed-array rows', () => {
    expect(tensor([true, false]).toArray()).toEqual([1, 0]);
    expect(tensor([new Float32Array([1, 2]), new Float32Array([3, 4])]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensor([Float64Array.of(0.5), Float64Array.of(1.5)]).shape).toEqual([2, 1]);
    expect(() => tensor([new Float32Array([1, 2]), new Float32Array([3])])).toThrow('expected sequence of length 2 at dim 1 (got 1) at index [1]');
  });

  it('rounds to float32', () => {
    expect(tensor([0.1]).data[0]).toBe(Math.fround(0.1));
  });

  it('ragged input: a clear error naming the index', () => {
    expect(() => tensor([[1, 2, 3], [4, 5]])).toThrow(ValueError);
    expect(() => tensor([[1, 2, 3], [4, 5]])).toThrow('expected sequence of length 3 at dim 1 (got 2) at index [1]');
    expect(() => tensor([[1, 2], [3, [4]]] as any)).toThrow(/expected a number at index \[1, 1\]/);
    expect(() => tensor([[1, 2], 3] as any)).toThrow(/at dim 1 \(got a number\) at index \[1\]/);
    expect(() => tensor([[1, 'x']] as any)).toThrow(/index \[0, 1\]/);
  });

  it('from a Float32Array with a shape (no copy), and shape checks', () => {
    const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor(buf, { shape: [3, 2] });
    expect(t.shape).toEqual([3, 2]);
    expect(t.data).toBe(buf);
    expect(tensor(buf).shape).toEqual([6]);
    expect(() => tensor(buf, { shape: [4, 2] })).toThrow('tensor(): shape [4, 2] is invalid for input of size 6');
    expect(tensor([1, 2, 3, 4], { shape: [2, 2] }).toArray()).toEqual([[1, 2], [3, 4]]);
  });

  it('requiresGrad option', () => {
    expect(tensor([1], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(tensor([1]).requiresGrad).toBe(false);
  });
});

describe('factories', () => {
  it('zeros, ones, full, arange', () => {
    expect(zeros([2, 3]).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(ones([2]).toArray()).toEqual([1, 1]);
    expect(full([2, 2], 7).toArray()).toEqual([[7, 7], [7, 7]]);
    expect(full([], 3).shape).toEqual([]);
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(1, 4).toArray()).toEqual([1, 2, 3]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(3, 0, -1).toArray()).toEqual([3, 2, 1]);
    expect(() => zeros([2, -1])).toThrow(/invalid shape \[2, -1\]/);
    expect(() => arange(0, 1, 0)).toThrow(/step must be nonzero/);
  });

  it('randn/rand draw from the generator exactly like normalFill/uniformFill', () => {
    const g1 = new Generator(7);
    const g2 = new Generator(7);
    const a = randn([5, 7], { generator: g1 });
    const ref = new Float32Array(35);
    normalFill(ref, 0, 1, g2);
    expect(a.shape).toEqual([5, 7]);
    expect(Array.from(a.data)).toEqual(Array.from(ref));
    const u = rand([20], { generator: g1, requiresGrad: true });
    const uref = new Float32Array(20);
    uniformFill(uref, 0, 1, g2);
    expect(Array.from(u.data)).toEqual(Array.from(uref));
    expect(u.requiresGrad).toBe(true);
  });

  it('randn uses the default generator after manualSeed', () => {
    manualSeed(3);
    const a = randn([40]);
    manualSeed(3);
    const b = randn([40]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });
});

describe('shape ops', () => {
  it('reshape with -1 shares storage; view is the same', () => {
    const a = arange(12);
    const b = a.reshape([3, -1]);
    expect(b.shape).toEqual([3, 4]);
    expect(b.data).toBe(a.data);
    expect(a.reshape(2, 6).shape).toEqual([2, 6]);
    expect(a.view([-1, 2, 3]).shape).toEqual([2, 2, 3]);
  });

  it('t and transpose materialise the transposed values', () => {
    const a = arange(6).reshape([2, 3]);
    expect(a.t().toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    const b = arange(24).reshape([2, 3, 4]);
    const c = b.transpose(0, 2);
    expect(c.shape).toEqual([4, 3, 2]);
    // c[i][j][k] = b[k][j][i]
    expect((c.toArray() as number[][][])[3][1][0]).toBe((b.toArray() as number[][][])[0][1][3]);
    expect(b.transpose(-1, -2).shape).toEqual([2, 4, 3]);
    expect(arange(3).t().shape).toEqual([3]);
  });

  it('matmul shapes follow torch.matmul', () => {
    expect(matmul(ones([4]), ones([4])).shape).toEqual([]);
    expect(matmul(ones([4]), ones([4, 5])).shape).toEqual([5]);
    expect(matmul(ones([3, 4]), ones([4])).shape).toEqual([3]);
    expect(matmul(ones([2, 1, 3, 4]), ones([5, 4, 2])).shape).toEqual([2, 5, 3, 2]);
    expect(matmul(ones([4]), ones([2, 4, 5])).shape).toEqual([2, 5]);
    expect(matmul(ones([2, 3, 4]), ones([4])).toArray()).toEqual([[4, 4, 4], [4, 4, 4]]);
  });
});

describe('comparisons, where, maskedFill, max', () => {
  it('lt gt le ge eq give 0/1 float tensors without grad, with broadcasting', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    expect(a.lt(2).toArray()).toEqual([1, 0, 0]);
    expect(a.gt(2).toArray()).toEqual([0, 0, 1]);
    expect(a.le(2).toArray()).toEqual([1, 1, 0]);
    expect(a.ge(2).toArray()).toEqual([0, 1, 1]);
    expect(a.eq(tensor([1, 0, 3])).toArray()).toEqual([1, 0, 1]);
    expect(a.lt(2).requiresGrad).toBe(false);
    expect(tensor([[1], [3]]).lt(tensor([2, 4])).toArray()).toEqual([[1, 1], [0, 1]]);
    expect(tensor([NaN]).eq(tensor([NaN])).item()).toBe(0);
  });

  it('where picks by condition and routes gradients (broadcast operand summed)', () => {
    const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const b = tensor([10, 20], { requiresGrad: true });
    const c = tensor([[1, 0], [0, 1]]);
    const out = where(c, a, b);
    expect(out.toArray()).toEqual([[1, 20], [10, 4]]);
    out.backward(tensor([[1, 2], [3, 4]]));
    expect(a.grad!.toArray()).toEqual([[1, 0], [0, 4]]);
    expect(b.grad!.toArray()).toEqual([3, 2]);
    expect(a.detach().where(c, 0).toArray()).toEqual([[1, 0], [0, 4]]);
  });

  it('maskedFill (broadcast mask) with gradient only where not filled; maskedFill_ in place', () => {
    const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const out = a.maskedFill(tensor([1, 0]), -1);
    expect(out.toArray()).toEqual([[-1, 2], [-1, 4]]);
    out.sum().backward();
    expect(a.grad!.toArray()).toEqual([[0, 1], [0, 1]]);
    const b = tensor([1, -2, 3]);
    b.maskedFill_(b.lt(0), 0);
    expect(b.toArray()).toEqual([1, 0, 3]);
    // A one-element tensor value that requires grad receives the gradient of the filled positions.
    const c = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const val = tensor(7, { requiresGrad: true });
    const filled = c.maskedFill(tensor([[1, 0], [0, 1]]), val);
    expect(filled.toArray()).toEqual([[7, 2], [3, 7]]);
    filled.backward(tensor([[1, 2], [3, 4]]));
    expect(val.grad!.item()).toBe(5);
    expect(c.grad!.toArray()).toEqual([[0, 2], [3, 0]]);
    expect(() => tensor([1, 2]).maskedFill(tensor([1, 0, 1]), 0)).toThrow(/mask of shape \[3\] cannot be broadcast to the tensor's shape \[2\]/);
  });

  it('max(dim) returns values and first-occurrence indices; max() and amax reduce', () => {
    const a = tensor([[1, 5, 5], [7, 2, 7]]);
    const { values, indices } = a.max(1);
    expect(values.toArray()).toEqual([5, 7]);
    expect(indices.toArray()).toEqual([1, 0]);
    const k = a.max(0, true);
    expect(k.values.shape).toEqual([1, 3]);
    expect(a.max().item()).toBe(7);
    expect(a.amax(-1, true).toArray()).toEqual([[5], [7]]);
  });

  it('sum and mean over dims, with keepdim and negative dims', () => {
    const a = arange(24).reshape([2, 3, 4]);
    expect(a.sum().item()).toBe(276);
    expect(a.sum([0, 2]).toArray()).toEqual([60, 92, 124]);
    expect(a.sum(-1, true).shape).toEqual([2, 3, 1]);
    expect(a.mean(1).shape).toEqual([2, 4]);
    expect(a.mean().item()).toBe(11.5);
  });
});

describe('call forms', () => {
  it('clamp(min, max) positional as in PyTorch, and backward({retainGraph}) without a gradient', () => {
    const a = tensor([-1, 0.5, 2], { requiresGrad: true });
    expect(a.clamp(0, 1).toArray()).toEqual([0, 0.5, 1]);
    expect(a.clamp(null, 1).toArray()).toEqual([-1, 0.5, 1]);
    const loss = a.clamp(0).sum();
    loss.backward({ retainGraph: true });
    loss.backward(null, { retainGraph: true });
    expect(a.grad!.toArray()).toEqual([0, 2, 2]);
    expect(String(tensor([[1, 2]]))).toBe('tensor([[1,2]])');
  });
});

describe('sum in PyTorch\'s order', () => {
  it('counts every element exactly once at every cascade level (integer data sums exactly)', () => {
    for (const n of [0, 1, 7, 8, 31, 32, 33, 100, 511, 512, 513, 640, 8191, 8192, 8200, 131072, 131075, 2_100_000]) {
      const x = new Float32Array(n).map((_, i) => (i * 7919) % 13);
      let exact = 0;
      for (let i = 0; i < n; i++) exact += x[i];
      expect(cascadeSum(x, 0, n), `n = ${n}`).toBe(exact);
      expect(cascadeSum(x, 3, Math.max(0, n - 3)), `n = ${n}, offset 3`).toBe(exact - (n > 0 ? x[0] + (x[1] ?? 0) + (x[2] ?? 0) : 0));
    }
  });

  it('every reduction pattern counts each element once (integer data; row counts past several cascade levels)', () => {
    const shapes = [[300, 5], [5000, 3], [2, 600, 4], [3, 5, 70], [70, 1, 9], [1, 300, 1, 2]];
    for (const shape of shapes) {
      const n = shape.reduce((p, d) => p * d, 1);
      const x = new Float32Array(n).map((_, i) => (i * 31) % 7);
      // Every subset of dims to reduce, keepdim-style.
      for (let mask = 1; mask < 1 << shape.length; mask++) {
        const dst = shape.map((d, i) => (mask & (1 << i) ? 1 : d));
        const got = sumToShape(x, shape, dst);
        const want = new Float64Array(got.length);
        const strides = dst.map((_, i) => dst.slice(i + 1).reduce((p, d) => p * d, 1));
        for (let i = 0; i < n; i++) {
          let rem = i;
          let o = 0;
          for (let d = shape.length - 1; d >= 0; d--) {
            const idx = rem % shape[d];
            rem = Math.floor(rem / shape[d]);
            if (dst[d] !== 1) o += idx * strides[d];
          }
          want[o] += x[i];
        }
        expect(Array.from(got), `${JSON.stringify(shape)} -> ${JSON.stringify(dst)}`).toEqual(Array.from(want));
      }
    }
  });

  it('sum() of the tutorial\'s step-0 squared error is PyTorch\'s loss to the bit', () => {
    const fx = loadFixture('two_layer_autograd');
    const loss = fx.get('y_pred0').sub(fx.get('y')).pow(2).sum();
    expect(loss.item()).toBe((fx.json as any).losses[0]);
    expect(loss.item()).toBe(29428662);
  });
});
