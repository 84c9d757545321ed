/** Reductions: sum, mean, amax, max. Sums accumulate in double and round once per output element. */
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { broadcastOffsets, expandTo, sumToShape } from '../kernels/elementwise.js';
import { normalizeDim, normalizeDims, numelOf, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

type Dims = number | readonly number[] | null | undefined;

interface Plan {
  /** The input shape with reduced dims set to 1 (broadcastable back to the input). */
  keepShape: number[];
  outShape: number[];
  /** Elements folded into each output. */
  count: number;
}

function plan(shape: readonly number[], dim: Dims, keepdim: boolean): Plan {
  const dims = normalizeDims(dim, shape.length);
  const reduced = new Array<boolean>(shape.length).fill(false);
  for (const d of dims) reduced[d] = true;
  const keepShape = shape.map((s, i) => (reduced[i] ? 1 : s));
  const outShape = keepdim ? keepShape.slice() : shape.filter((_, i) => !reduced[i]);
  let count = 1;
  for (const d of dims) count *= shape[d];
  return { keepShape, outShape, count };
}

export function sum(a: Tensor, dim?: Dims, keepdim = false): Tensor {
  const { keepShape, outShape } = plan(a.shape, dim, keepdim);
  let data = sumToShape(a.data, a.shape, keepShape);
  if (data === a.data) data = data.slice();
  const inShape = a.shape.slice();
  return record(new Tensor(data, outShape), 'SumBackward1', [a], (g) => [expandTo(g, keepShape, inShape)]);
}

export function mean(a: Tensor, dim?: Dims, keepdim = false): Tensor {
  const { keepShape, outShape, count } = plan(a.shape, dim, keepdim);
  // PyTorch (CPU): sum, then divide in float32.
  let data = sumToShape(a.data, a.shape, keepShape);
  if (data === a.data) data = data.slice();
  for (let i = 0; i < data.length; i++) data[i] = data[i] / count;
  const inShape = a.shape.slice();
  return record(new Tensor(data, outShape), 'MeanBackward1', [a], (g) => {
    const r = expandTo(g, keepShape, inShape);
    for (let i = 0; i < r.length; i++) r[i] = r[i] / count;
    return [r];
  });
}

/** Max over the dims folded into keepShape; NaN wins, as in PyTorch. */
function maxToShape(src: Float32Array, shape: readonly number[], keepShape: readonly number[]): Float32Array {
  const m = numelOf(keepShape);
  const res = new Float32Array(m).fill(-Infinity);
  if (m === 1) {
    let best = -Infinity;
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v > best || v !== v) {
        best = v;
        if (v !== v) break;
      }
    }
    res[0] = best;
    return res;
  }
  const offs = broadcastOffsets(keepShape, shape);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    const o = offs[i];
    if (v > res[o] || v !== v) res[o] = v;
  }
  return res;
}

/**
 * Gradient of a max that splits evenly among ties (amax, and max() without dim): grad / count on every element
 * equal to the result (NaN positions when the result is NaN).
 */
function evenlyDistribute(
  g: Float32Array,
  x: Float32Array,
  inShape: readonly number[],
  result: Float32Array,
  keepShape: readonly number[],
  signedZeros: boolean,
): Float32Array {
  const offs = broadcastOffsets(keepShape, inShape);
  const counts = new Float64Array(result.length);
  const hit = (v: number, r: number): boolean => (r !== r ? v !== v : v === r);
  for (let i = 0; i < x.length; i++) if (hit(x[i], result[offs[i]])) counts[offs[i]]++;
  const out = new Float32Array(x.length);
  if (signedZeros) {
    // amax: (grad / count) * mask, so non-maxima get a signed zero (-0 under a negative gradient).
    for (let i = 0; i < x.length; i++) {
      const o = offs[i];
      out[i] = Math.fround(g[o] / counts[o]) * (hit(x[i], result[o]) ? 1 : 0);
    }
  } else {
    // max(): zeros masked-filled with grad / count, so non-maxima are +0.
    for (let i = 0; i < x.length; i++) {
      const o = offs[i];
      if (hit(x[i], result[o])) out[i] = g[o] / counts[o];
    }
  }
  return out;
}

export function amax(a: Tensor, dim?: Dims, keepdim = false): Tensor {
  if (a.data.length === 0) throw new ShapeError(`amax(): Expected reduction dim to be specified for input.numel() == 0 (shape ${shapeStr(a.shape)})`);
  const { keepShape, outShape } = plan(a.shape, dim, keepdim);
  const res = maxToShape(a.data, a.shape, keepShape);
  const out = new Tensor(res, outShape);
  const inShape = a.shape.slice();
  return record(out, 'AmaxBackward0', [a], (g) => [evenlyDistribute(g, a.data, inShape, res, keepShape, true)], [a, out]);
}

/** max() over all elements: a 0-d tensor; the gradient is split evenly among tied maxima (PyTorch 1.13). */
export function maxAll(a: Tensor): Tensor {
  if (a.data.length === 0) {
    throw new ShapeError('max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the \'dim\' argument.');
  }
  const keepShape = a.shape.map(() => 1);
  const res = maxToShape(a.data, a.shape, keepShape);
  const out = new Tensor(res, []);
  const inShape = a.shape.slice();
  return record(out, 'MaxBackward1', [a], (g) => [evenlyDistribute(g, a.data, inShape, res, keepShape, false)], [a, out]);
}

/**
 * max(dim): values and indices (the first maximal element, or the first NaN); the whole gradient goes to the
 * returned index. Indices are float32 tensors holding integers.
 */
export function maxDim(a: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const nd = a.shape.length;
  const d = normalizeDim(dim, nd);
  const size = nd === 0 ? 1 : a.shape[d];
  if (size === 0) throw new ShapeError(`max(): Expected reduction dim ${dim} to have non-zero size (shape ${shapeStr(a.shape)})`);
  let outer = 1;
  for (let i = 0; i < d; i++) outer *= a.shape[i];
  let inner = 1;
  for (let i = d + 1; i < nd; i++) inner *= a.shape[i];
  const x = a.data;
  const vals = new Float32Array(outer * inner);
  const idx = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * size * inner + j;
      let best = x[base];
      let bi = 0;
      if (best === best) {
        for (let k = 1; k < size; k++) {
          const v = x[base + k * inner];
          if (v > best || v !== v) {
            best = v;
            bi = k;
            if (v !== v) break;
          }
        }
      }
      vals[o * inner + j] = best;
      idx[o * inner + j] = bi;
    }
  }
  const outShape = nd === 0 ? [] : keepdim ? a.shape.map((s, i) => (i === d ? 1 : s)) : a.shape.filter((_, i) => i !== d);
  const values = new Tensor(vals, outShape);
  const indices = new Tensor(idx, outShape.slice());
  const n = x.length;
  record(
    values,
    'MaxBackward0',
    [a],
    (g) => {
      const r = new Float32Array(n);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const p = o * inner + j;
          r[o * size * inner + idx[p] * inner + j] += g[p];
        }
      }
      return [r];
    },
    [indices],
  );
  return { values, indices };
}
