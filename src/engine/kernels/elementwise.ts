/**
 * Elementwise and reduction loops on raw Float32Arrays, kept as small exported functions so a faster
 * implementation can replace them one by one. Each result element is computed in double precision by JS and
 * rounded once to float32 on store; for + - * / that single rounding gives exactly the float32 result (double
 * rounding is innocuous when the wide format has >= 2p+2 bits).
 */
import { broadcastStrides, numelOf, sameShape } from '../shape.js';
import { allocResult } from './alloc.js';
import { elementwiseKernels } from './gemm.js';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

/**
 * From this many elements on, the WebAssembly SIMD kernels (when the active kernel path has them) beat the JS loops
 * even though they copy the operands through wasm memory; their results are bit-identical (see
 * scripts/elementwise-wat.ts), so the switch never changes a number. Measured (a - b, CPU time): 128 elements
 * 314 ns JS vs 233 ns wasm, 256: 658 vs 261, 1000: 1769 vs 347; below about 100 JS wins (64: 77 vs 194).
 */
export const WASM_ELEMENTWISE_MIN = 256;

/**
 * For every element of `outShape` (row-major), the offset of the element of `shape` it reads under broadcasting.
 * Only used on the general path; same-shape and scalar operands never get here.
 */
export function broadcastOffsets(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = numelOf(outShape);
  const res = new Int32Array(n);
  const nd = outShape.length;
  if (nd === 0) return res;
  const st = broadcastStrides(shape, outShape);
  const inner = outShape[nd - 1];
  const innerStride = st[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let base = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, off = base; j < inner; j++, off += innerStride) res[o + j] = off;
    // Advance the counter over the outer dims.
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += st[d];
      if (idx[d] < outShape[d]) break;
      base -= st[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return res;
}

/** `src` broadcast to a full `outShape` buffer. */
function gather(src: Float32Array, shape: readonly number[], outShape: readonly number[]): Float32Array {
  const offs = broadcastOffsets(shape, outShape);
  const full = new Float32Array(offs.length);
  for (let i = 0; i < offs.length; i++) full[i] = src[offs[i]];
  return full;
}

/** out = a (op) b with a, b, out of equal length. */
export function binarySame(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array): void {
  const n = out.length;
  if (n >= WASM_ELEMENTWISE_MIN && a.length === n && b.length === n) {
    const k = elementwiseKernels();
    if (k && k.binary(op, a, b, out)) return;
  }
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[i] / b[i]; break;
  }
}

/** out = a (op) s, or s (op) a when `scalarLeft`; `s` must already be a float32 value. */
export function binaryScalar(op: BinaryOp, a: Float32Array, s: number, out: Float32Array, scalarLeft: boolean): void {
  const n = out.length;
  if (n >= WASM_ELEMENTWISE_MIN && a.length === n) {
    const k = elementwiseKernels();
    if (k && k.scalar(op, a, s, out, scalarLeft)) return;
  }
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[i] + s; break;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[i] * s; break;
    case 'sub':
      if (scalarLeft) for (let i = 0; i < n; i++) out[i] = s - a[i];
      else for (let i = 0; i < n; i++) out[i] = a[i] - s;
      break;
    case 'div':
      if (scalarLeft) for (let i = 0; i < n; i++) out[i] = s / a[i];
      else for (let i = 0; i < n; i++) out[i] = a[i] / s;
      break;
  }
}

/** x += alpha * y (same lengths), rounded once from float64 as `x[i] += alpha * y[i]` does. */
export function axpyInto(x: Float32Array, y: Float32Array, alpha: number): void {
  const n = x.length;
  if (alpha === 1) return binarySame('add', x, y, x);
  if (alpha === -1) return binarySame('sub', x, y, x);
  if (n >= WASM_ELEMENTWISE_MIN && y.length === n) {
    const k = elementwiseKernels();
    if (k && k.axpy(x, y, alpha)) return;
  }
  for (let i = 0; i < n; i++) x[i] += alpha * y[i];
}

/** out = min(max(x, lo), hi) with NaN kept (pass hi = Infinity for a lower bound only). */
export function clampKernel(x: Float32Array, lo: number, hi: number, out: Float32Array): void {
  const n = out.length;
  if (n >= WASM_ELEMENTWISE_MIN && x.length === n) {
    const k = elementwiseKernels();
    if (k && k.clamp(x, out, lo, hi)) return;
  }
  // Math.max/min propagate NaN, as PyTorch's clamp does.
  if (hi === Infinity) for (let i = 0; i < n; i++) out[i] = Math.max(x[i], lo);
  else for (let i = 0; i < n; i++) out[i] = Math.min(Math.max(x[i], lo), hi);
}

/** Clamp's gradient: g where lo <= x <= hi (bounds included), else 0. */
export function clampBackwardKernel(x: Float32Array, g: Float32Array, lo: number, hi: number, out: Float32Array): void {
  const n = out.length;
  if (n >= WASM_ELEMENTWISE_MIN && x.length === n && g.length === n) {
    const k = elementwiseKernels();
    if (k && k.clampBackward(x, g, out, lo, hi)) return;
  }
  for (let i = 0; i < n; i++) out[i] = x[i] >= lo && x[i] <= hi ? g[i] : 0;
}

/** out = a (op) b under broadcasting to outShape. */
export function binaryBroadcast(
  op: BinaryOp,
  a: Float32Array,
  aShape: readonly number[],
  b: Float32Array,
  bShape: readonly number[],
  outShape: readonly number[],
): Float32Array {
  const n = numelOf(outShape);
  const out = allocResult(n); // every branch below writes all n elements
  const aFull = sameShape(aShape, outShape);
  const bFull = sameShape(bShape, outShape);
  if (aFull && bFull) {
    binarySame(op, a, b, out);
  } else if (aFull && b.length === 1) {
    binaryScalar(op, a, b[0], out, false);
  } else if (bFull && a.length === 1) {
    binaryScalar(op, b, a[0], out, true);
  } else {
    // Gather the broadcast operand(s) to full size, then one same-shape pass (no per-element dispatch).
    binarySame(op, aFull ? a : gather(a, aShape, outShape), bFull ? b : gather(b, bShape, outShape), out);
  }
  return out;
}

const SUM_LANES = 8; // Vectorized<float>::size() of the AVX2/default CPU kernels
const SUM_ILP = 4;
const SUM_LEVELS = 4;
const sumAcc = new Float32Array(SUM_LEVELS * SUM_ILP * SUM_LANES);

/** c10::CeilLog2 */
function ceilLog2(x: number): number {
  return x <= 2 ? 1 : 32 - Math.clz32(x - 1);
}

/**
 * Sum of src[off .. off+n) in float32, in PyTorch's order (CPU SumKernel: vectorized_inner_sum -> row_sum with 4
 * independent accumulators -> multi_row_sum's 4-level cascade, 8 lanes, then the scalar tail and the lanes; under
 * 8 elements the scalar row_sum), so a full or innermost reduction returns PyTorch's bits exactly: measured on the
 * tutorial, all 500 `loss.item()` values equal the fixture's, where a double-precision sum matched 307 of them.
 */
export function cascadeSum(src: Float32Array, off: number, n: number): number {
  const W = SUM_LANES;
  // Fewer elements than one vector: PyTorch's scalar_inner_sum, i.e. row_sum on scalars (a column of one).
  if (n < W) return outerCascadeSum(src, off, n, 1)[0];
  const rowLen = SUM_ILP * W; // one "row" of multi_row_sum: SUM_ILP vectors of W lanes, contiguous
  const vecSize = Math.floor(n / W);
  const rows = Math.floor(vecSize / SUM_ILP);
  const acc = sumAcc;
  acc.fill(0);
  const levelPower = Math.max(4, Math.floor(ceilLog2(rows) / SUM_LEVELS));
  const levelStep = 1 << levelPower;
  const levelMask = levelStep - 1;
  let i = 0;
  while (i + levelStep <= rows) {
    for (let j = 0; j < levelStep; j++, i++) {
      const b = off + i * rowLen;
      for (let q = 0; q < rowLen; q++) acc[q] = acc[q] + src[b + q];
    }
    for (let j = 1; j < SUM_LEVELS; j++) {
      const hi = j * rowLen;
      const lo = hi - rowLen;
      for (let q = 0; q < rowLen; q++) {
        acc[hi + q] = acc[hi + q] + acc[lo + q];
        acc[lo + q] = 0;
      }
      if ((i & (levelMask << (j * levelPower))) !== 0) break;
    }
  }
  for (; i < rows; i++) {
    const b = off + i * rowLen;
    for (let q = 0; q < rowLen; q++) acc[q] = acc[q] + src[b + q];
  }
  for (let j = 1; j < SUM_LEVELS; j++) for (let q = 0; q < rowLen; q++) acc[q] = acc[q] + acc[j * rowLen + q];
  // Vectors left over after the rows go to accumulator 0, then the accumulators are folded into it.
  for (let v = rows * SUM_ILP; v < vecSize; v++) for (let l = 0; l < W; l++) acc[l] = acc[l] + src[off + v * W + l];
  for (let k = 1; k < SUM_ILP; k++) for (let l = 0; l < W; l++) acc[l] = acc[l] + acc[k * W + l];
  let total = 0;
  for (let k = vecSize * W; k < n; k++) total = Math.fround(total + src[off + k]);
  for (let l = 0; l < W; l++) total = Math.fround(total + acc[l]);
  return total;
}

/**
 * Column sums of a [rows x cols] row-major block at `off`, in PyTorch's order for an outer reduction (CPU
 * SumKernel): with 8+ columns (vectorized_outer_sum), groups of 32 columns take multi_row_sum (a 4-level cascade
 * down each column) and the rest row_sum (4 interleaved accumulators over groups of 4 rows, then that cascade,
 * leftover rows into accumulator 0, the 4 folded); under 8 columns (scalar_outer_sum), groups of 4 columns take
 * multi_row_sum and the rest row_sum. All float32. Checked against the bias gradients of the seq_adam fixture
 * (16 rows; 3 and 12 columns) and op_grads' linear and broadcast cases.
 */
export function outerCascadeSum(src: Float32Array, off: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(cols);
  const group = cols >= SUM_LANES ? SUM_ILP * SUM_LANES : SUM_ILP;
  const grouped = cols - (cols % group);
  if (grouped > 0) columnSums(src, off, rows, cols, 0, grouped, 1, out);
  if (grouped < cols) columnSums(src, off, rows, cols, grouped, cols, SUM_ILP, out);
  return out;
}

/**
 * Sums down columns [c0, c1) of a [rows x cols] block: `ilp` interleaved accumulators (row k of each group of
 * `ilp` rows into accumulator k), multi_row_sum's 4-level cascade over the groups, leftover rows into
 * accumulator 0, then the accumulators folded in order.
 */
function columnSums(src: Float32Array, off: number, rows: number, cols: number, c0: number, c1: number, ilp: number, out: Float32Array): void {
  const levels = SUM_LEVELS;
  const w = c1 - c0;
  const lane = ilp * w; // one group's accumulators: accumulator k of column c at k * w + (c - c0)
  const acc = new Float32Array(levels * lane);
  const groups = Math.floor(rows / ilp);
  const levelPower = Math.max(4, Math.floor(ceilLog2(groups) / levels));
  const levelStep = 1 << levelPower;
  const levelMask = levelStep - 1;
  const addGroup = (gi: number): void => {
    for (let k = 0; k < ilp; k++) {
      const b = off + (gi * ilp + k) * cols + c0;
      const a = k * w;
      for (let c = 0; c < w; c++) acc[a + c] = acc[a + c] + src[b + c];
    }
  };
  let i = 0;
  while (i + levelStep <= groups) {
    for (let j = 0; j < levelStep; j++, i++) addGroup(i);
    for (let j = 1; j < levels; j++) {
      const hi = j * lane;
      const lo = hi - lane;
      for (let q = 0; q < lane; q++) {
        acc[hi + q] = acc[hi + q] + acc[lo + q];
        acc[lo + q] = 0;
      }
      if ((i & (levelMask << (j * levelPower))) !== 0) break;
    }
  }
  for (; i < groups; i++) addGroup(i);
  for (let j = 1; j < levels; j++) for (let q = 0; q < lane; q++) acc[q] = acc[q] + acc[j * lane + q];
  for (let r = groups * ilp; r < rows; r++) {
    const b = off + r * cols + c0;
    for (let c = 0; c < w; c++) acc[c] = acc[c] + src[b + c];
  }
  for (let k = 1; k < ilp; k++) for (let c = 0; c < w; c++) acc[c] = acc[c] + acc[k * w + c];
  for (let c = 0; c < w; c++) out[c0 + c] = acc[c];
}

/**
 * Sums `src` (of srcShape) down to dstShape, which must broadcast to srcShape: the gradient of a broadcast
 * operand, and sum(dim, keepdim=true). Follows PyTorch's float32 order exactly (single thread): cascadeSum for
 * contiguous runs, outerCascadeSum for columns, partial sums of outer dims added into the output.
 * Returns `src` itself when nothing is reduced.
 */
export function sumToShape(src: Float32Array, srcShape: readonly number[], dstShape: readonly number[]): Float32Array {
  if (sameShape(srcShape, dstShape)) return src;
  const m = numelOf(dstShape);
  const n = src.length;
  if (m === 1) return Float32Array.of(cascadeSum(src, 0, n));
  if (m === n) return src.slice(); // only size-1 dims differ: same layout
  if (n === 0) return new Float32Array(m);
  // The dims as PyTorch's TensorIterator sees them: innermost first, size-1 dims dropped, neighbours of the same
  // kind (reduced or kept) coalesced. The two innermost form the kernel's 2-D loop; the outer ones are iterated
  // (innermost fastest), each pass adding its partial sums into the output in float32.
  const nd = srcShape.length;
  const off = nd - dstShape.length;
  const sizes: number[] = [];
  const reduced: boolean[] = [];
  for (let d = nd - 1; d >= 0; d--) {
    const size = srcShape[d];
    if (size === 1) continue;
    const red = d < off || dstShape[d - off] === 1;
    if (reduced.length > 0 && reduced[reduced.length - 1] === red) sizes[sizes.length - 1] *= size;
    else {
      sizes.push(size);
      reduced.push(red);
    }
  }
  const inStrides: number[] = [];
  const outStrides: number[] = [];
  let is = 1;
  let os = 1;
  for (let k = 0; k < sizes.length; k++) {
    inStrides.push(is);
    outStrides.push(reduced[k] ? 0 : os);
    is *= sizes[k];
    if (!reduced[k]) os *= sizes[k];
  }
  const out = new Float32Array(m);
  const d0 = sizes[0];
  const d1 = sizes.length > 1 ? sizes[1] : 1;
  const outer = sizes.slice(2);
  const idx = new Array<number>(outer.length).fill(0);
  let inBase = 0;
  let outBase = 0;
  for (;;) {
    if (reduced[0]) {
      // Inner reduction: each row of d0 contiguous elements is one sum.
      const os1 = sizes.length > 1 ? outStrides[1] : 0;
      for (let j = 0; j < d1; j++) {
        const o = outBase + j * os1;
        out[o] = out[o] + cascadeSum(src, inBase + j * d0, d0);
      }
    } else {
      // Outer reduction: d1 rows of d0 contiguous columns.
      const sums = outerCascadeSum(src, inBase, d1, d0);
      for (let c = 0; c < d0; c++) out[outBase + c] = out[outBase + c] + sums[c];
    }
    // Next outer index (the innermost outer dim fastest).
    let k = 0;
    for (; k < outer.length; k++) {
      idx[k]++;
      inBase += inStrides[k + 2];
      outBase += outStrides[k + 2];
      if (idx[k] < outer[k]) break;
      inBase -= inStrides[k + 2] * outer[k];
      outBase -= outStrides[k + 2] * outer[k];
      idx[k] = 0;
    }
    if (k === outer.length) break;
  }
  return out;
}

/** Expands `src` (of srcShape, broadcastable to dstShape) to a full dstShape buffer. */
export function expandTo(src: Float32Array, srcShape: readonly number[], dstShape: readonly number[]): Float32Array {
  const n = numelOf(dstShape);
  if (src.length === n) return src.slice();
  if (src.length === 1) return new Float32Array(n).fill(src[0]);
  const offs = broadcastOffsets(srcShape, dstShape);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = src[offs[i]];
  return out;
}

/** out[i] = src[perm-transposed index]: materialises `transpose(d0, d1)` of a contiguous tensor. */
export function transposeCopy(src: Float32Array, shape: readonly number[], d0: number, d1: number): Float32Array {
  const nd = shape.length;
  const out = new Float32Array(src.length);
  if (nd === 2) {
    const R = shape[0];
    const C = shape[1];
    // Blocked so both sides stay in cache for large matrices.
    const B = 32;
    for (let r0 = 0; r0 < R; r0 += B) {
      const r1 = Math.min(R, r0 + B);
      for (let c0 = 0; c0 < C; c0 += B) {
        const c1 = Math.min(C, c0 + B);
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * R + r] = src[r * C + c];
      }
    }
    return out;
  }
  const outShape = shape.slice();
  outShape[d0] = shape[d1];
  outShape[d1] = shape[d0];
  // Strides of the source, permuted to the output's dim order.
  const srcStrides: number[] = [];
  let acc = 1;
  for (let i = nd - 1; i >= 0; i--) {
    srcStrides[i] = acc;
    acc *= shape[i];
  }
  const perm = srcStrides.slice();
  perm[d0] = srcStrides[d1];
  perm[d1] = srcStrides[d0];
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = src[off];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      off += perm[d];
      if (idx[d] < outShape[d]) break;
      off -= perm[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return out;
}
