/** Comparisons (0/1 float32 results, never in the graph), where, and maskedFill. */
import { record } from '../autograd.js';
import { ShapeError, ValueError } from '../errors.js';
import { broadcastOffsets, sumToShape } from '../kernels/elementwise.js';
import { broadcastableTo, broadcastShapes, sameShape, shapeStr } from '../shape.js';
import { Tensor, type Operand } from '../tensor.js';

export type CompareOp = 'lt' | 'gt' | 'le' | 'ge' | 'eq';

function cmp(op: CompareOp, x: number, y: number): number {
  switch (op) {
    case 'lt': return x < y ? 1 : 0;
    case 'gt': return x > y ? 1 : 0;
    case 'le': return x <= y ? 1 : 0;
    case 'ge': return x >= y ? 1 : 0;
    case 'eq': return x === y ? 1 : 0;
  }
}

export function compare(op: CompareOp, a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') {
    const s = Math.fround(b);
    const x = a.data;
    const out = new Float32Array(x.length);
    switch (op) {
      case 'lt': for (let i = 0; i < x.length; i++) out[i] = x[i] < s ? 1 : 0; break;
      case 'gt': for (let i = 0; i < x.length; i++) out[i] = x[i] > s ? 1 : 0; break;
      case 'le': for (let i = 0; i < x.length; i++) out[i] = x[i] <= s ? 1 : 0; break;
      case 'ge': for (let i = 0; i < x.length; i++) out[i] = x[i] >= s ? 1 : 0; break;
      case 'eq': for (let i = 0; i < x.length; i++) out[i] = x[i] === s ? 1 : 0; break;
    }
    return new Tensor(out, a.shape.slice());
  }
  const outShape = sameShape(a.shape, b.shape) ? a.shape.slice() : broadcastShapes(a.shape, b.shape);
  const n = outShape.reduce((p, s) => p * s, 1);
  const out = new Float32Array(n);
  const ia = sameShape(a.shape, outShape) ? null : broadcastOffsets(a.shape, outShape);
  const ib = sameShape(b.shape, outShape) ? null : broadcastOffsets(b.shape, outShape);
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < n; i++) out[i] = cmp(op, x[ia ? ia[i] : i], y[ib ? ib[i] : i]);
  return new Tensor(out, outShape);
}

function asTensor(v: Operand): Tensor {
  return typeof v === 'number' ? new Tensor(Float32Array.of(v), []) : v;
}

/** `where(cond, a, b)`: a where cond is nonzero, else b; all three broadcast together. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ta = asTensor(a);
  const tb = asTensor(b);
  const outShape = broadcastShapes(broadcastShapes(cond.shape, ta.shape), tb.shape);
  const n = outShape.reduce((p, s) => p * s, 1);
  const ic = sameShape(cond.shape, outShape) ? null : broadcastOffsets(cond.shape, outShape);
  const ia = sameShape(ta.shape, outShape) ? null : broadcastOffsets(ta.shape, outShape);
  const ib = sameShape(tb.shape, outShape) ? null : broadcastOffsets(tb.shape, outShape);
  const c = cond.data;
  const x = ta.data;
  const y = tb.data;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = c[ic ? ic[i] : i] !== 0 ? x[ia ? ia[i] : i] : y[ib ? ib[i] : i];
  const aShape = ta.shape.slice();
  const bShape = tb.shape.slice();
  return record(
    new Tensor(out, outShape),
    'WhereBackward0',
    [ta, tb],
    (g, needs) => {
      const pick = (when: boolean, shape: number[]): Float32Array => {
        const r = new Float32Array(n);
        for (let i = 0; i < n; i++) if ((c[ic ? ic[i] : i] !== 0) === when) r[i] = g[i];
        return sumToShape(r, outShape, shape);
      };
      return [needs[0] ? pick(true, aShape) : null, needs[1] ? pick(false, bShape) : null];
    },
    [cond],
  );
}

/** The fill value of maskedFill: a number or a 0-d (one-element) tensor, as PyTorch accepts. */
export function fillValue(value: number | Tensor): number {
  if (typeof value === 'number') return value;
  if (value.data.length !== 1) {
    throw new ValueError(
      `masked_fill_ only supports a 0-dimensional value tensor, but got tensor with ${value.shape.length} dimension(s) (shape ${shapeStr(value.shape)})`,
    );
  }
  return value.data[0];
}

/** Offsets of the mask under broadcasting to `shape` (null when it already has that shape). */
export function maskOffsets(mask: Tensor, shape: readonly number[], what: string): Int32Array | null {
  if (sameShape(mask.shape, shape)) return null;
  if (!broadcastableTo(mask.shape, shape)) {
    throw new ShapeError(`${what}: the mask of shape ${shapeStr(mask.shape)} cannot be broadcast to the tensor's shape ${shapeStr(shape)}`);
  }
  return broadcastOffsets(mask.shape, shape);
}

/**
 * A copy of `a` with `value` where the mask is nonzero; the gradient flows to `a` where it is zero and, when the
 * value is a one-element tensor that requires grad, to the value (summed over the filled positions), as in PyTorch.
 */
export function maskedFill(a: Tensor, mask: Tensor, value: number | Tensor): Tensor {
  const v = fillValue(value);
  const im = maskOffsets(mask, a.shape, 'masked_fill');
  const m = mask.data;
  const out = a.data.slice();
  for (let i = 0; i < out.length; i++) if (m[im ? im[i] : i] !== 0) out[i] = v;
  const inputs = typeof value === 'number' ? [a] : [a, value];
  const vShape = typeof value === 'number' ? [] : value.shape.slice();
  return record(
    new Tensor(out, a.shape.slice()),
    'MaskedFillBackward0',
    inputs,
    (g, needs) => {
      let ga: Float32Array | null = null;
      if (needs[0]) {
        ga = new Float32Array(g.length);
        for (let i = 0; i < ga.length; i++) ga[i] = m[im ? im[i] : i] !== 0 ? 0 : g[i];
      }
      if (inputs.length === 1) return [ga];
      let gv: Float32Array | null = null;
      if (needs[1]) {
        let s = 0;
        for (let i = 0; i < g.length; i++) if (m[im ? im[i] : i] !== 0) s += g[i];
        gv = new Float32Array(Math.max(1, vShape.reduce((p, d) => p * d, 1))).fill(s);
      }
      return [ga, gv];
    },
    [mask],
  );
}
