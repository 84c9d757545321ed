/** Shape arithmetic shared by the ops: sizes, strides, dimension wrapping and NumPy/PyTorch broadcasting. */
import { ShapeError } from './errors.js';

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** `[3, 4]`, as PyTorch prints sizes in most of its messages. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Wraps a possibly negative dim into [0, ndim); a 0-d tensor accepts -1 and 0, as in PyTorch. */
export function normalizeDim(dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new ShapeError(`Dimension out of range (expected to be in range of [${-n}, ${n - 1}], but got ${dim})`);
  }
  return dim < 0 ? dim + n : dim;
}

/** A sorted list of distinct wrapped dims; `undefined` (or an empty list) means all dims. */
export function normalizeDims(dim: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (dim === undefined || dim === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof dim === 'number' ? [dim] : dim;
  if (list.length === 0) return Array.from({ length: ndim }, (_, i) => i);
  const seen = new Set<number>();
  for (const d of list) {
    const w = normalizeDim(d, ndim);
    if (seen.has(w)) throw new ShapeError(`dim ${w} appears multiple times in the list of dims`);
    seen.add(w);
  }
  // A 0-d tensor "reduces" over its single virtual dim: nothing to do.
  return [...seen].filter((d) => d < ndim).sort((a, b) => a - b);
}

/** The broadcast shape of two shapes, with PyTorch's error for incompatible sizes. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a.length - n + i >= 0 ? a[a.length - n + i] : 1;
    const db = b.length - n + i >= 0 ? b[b.length - n + i] : 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `The size of tensor a (${da}) must match the size of tensor b (${db}) at non-singleton dimension ${i}` +
          ` (shapes ${shapeStr(a)} and ${shapeStr(b)})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** True when `from` can be broadcast to exactly `to` (what in-place ops and maskedFill need). */
export function broadcastableTo(from: readonly number[], to: readonly number[]): boolean {
  if (from.length > to.length) return false;
  for (let i = 1; i <= from.length; i++) {
    const f = from[from.length - i];
    if (f !== 1 && f !== to[to.length - i]) return false;
  }
  return true;
}

/**
 * Strides of `shape` read as if it had `outShape` (right-aligned): 0 on broadcast dims, so that one index
 * counter over `outShape` addresses the smaller operand too.
 */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const res = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) res[off + i] = shape[i] === 1 ? 0 : own[i];
  return res;
}
