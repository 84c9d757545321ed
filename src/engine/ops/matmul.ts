/**
 * mm and matmul. Every product goes through the `sgemm` binding (read at call time: it is swapped for a faster
 * kernel at start-up); backward passes use its transA/transB flags instead of materialising transposes.
 */
import { ACCUMULATED, record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import * as gemm from '../kernels/gemm.js';
import { allocResult } from '../kernels/alloc.js';
import { broadcastOffsets, sumToShape } from '../kernels/elementwise.js';
import { broadcastShapes, numelOf, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

function mismatch(aShape: readonly number[], bShape: readonly number[]): ShapeError {
  return new ShapeError(`mat1 and mat2 shapes cannot be multiplied (${aShape.join('x')} and ${bShape.join('x')})`);
}

export function mm(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length !== 2) throw new ShapeError(`self must be a matrix (mm got a tensor of shape ${shapeStr(a.shape)})`);
  if (b.shape.length !== 2) throw new ShapeError(`mat2 must be a matrix (mm got a tensor of shape ${shapeStr(b.shape)})`);
  const [M, K] = a.shape;
  const [K2, N] = b.shape;
  if (K !== K2) throw mismatch(a.shape, b.shape);
  // Every sgemm path overwrites all of C when not accumulating.
  const out = new Tensor(allocResult(M * N), [M, N]);
  gemm.sgemm({ transA: false, transB: false, M, N, K, A: a.data, B: b.data, C: out.data });
  if (!a.requiresGrad && !b.requiresGrad) return out;
  return record(
    out,
    'MmBackward0',
    [a, b],
    (g, needs, into) => {
      let ga: Float32Array | null = null;
      let gb: Float32Array | null = null;
      // A leaf's existing .grad (into) receives the product directly, rounded as a separate add would be.
      if (needs[0]) {
        // dA = G · Bᵀ  [M×N]·[N×K]
        const dst = into?.[0] ?? null;
        ga = dst ? ACCUMULATED : allocResult(M * K);
        gemm.sgemm({ transA: false, transB: true, M, N: K, K: N, A: g, B: b.data, C: dst ?? ga, accumulateRounded: dst !== null });
      }
      if (needs[1]) {
        // dB = Aᵀ · G  [K×M]·[M×N]
        const dst = into?.[1] ?? null;
        gb = dst ? ACCUMULATED : allocResult(K * N);
        gemm.sgemm({ transA: true, transB: false, M: K, N, K: M, A: a.data, B: g, C: dst ?? gb, accumulateRounded: dst !== null });
      }
      return [ga, gb];
    },
    // Like PyTorch: a is kept for b's gradient, b for a's.
    [...(b.requiresGrad ? [a] : []), ...(a.requiresGrad ? [b] : [])],
  );
}

/**
 * torch.matmul: 1-D operands are promoted ([K] -> [1,K] on the left, [K,1] on the right) and the added dim
 * removed from the result; leading (batch) dims broadcast. A broadcast operand's gradient is summed over the
 * batches that reused it, by accumulating the per-batch products into the same block.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra === 0 || rb === 0) {
    throw new ShapeError(`both arguments to matmul need to be at least 1D, but they are ${ra}D and ${rb}D`);
  }
  if (ra === 2 && rb === 2) return mm(a, b);
  const aS = ra === 1 ? [1, a.shape[0]] : a.shape.slice();
  const bS = rb === 1 ? [b.shape[0], 1] : b.shape.slice();
  const M = aS[aS.length - 2];
  const K = aS[aS.length - 1];
  const N = bS[bS.length - 1];
  if (bS[bS.length - 2] !== K) {
    if (ra === 1 && rb === 1) {
      throw new ShapeError(
        `inconsistent tensor size, expected tensor [${a.shape[0]}] and src [${b.shape[0]}] to have the same number of elements, but got ${a.shape[0]} and ${b.shape[0]} elements respectively`,
      );
    }
    throw mismatch(a.shape, b.shape);
  }
  const aBatch = aS.slice(0, -2);
  const bBatch = bS.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes(aBatch, bBatch);
  } catch {
    throw new ShapeError(`matmul: batch dimensions ${shapeStr(aBatch)} and ${shapeStr(bBatch)} cannot be broadcast (shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)})`);
  }
  const nb = numelOf(batch);
  const outFull = [...batch, M, N];
  let outShape = outFull.slice();
  if (ra === 1) outShape.splice(outShape.length - 2, 1);
  if (rb === 1) outShape = outShape.slice(0, -1);
  const out = new Tensor(new Float32Array(nb * M * N), outShape);
  // b without batch dims: fold a's batches into the rows of one product (what PyTorch does too).
  const foldA = bBatch.length === 0;
  const aOffs = foldA ? null : broadcastOffsets(aBatch, batch);
  const bOffs = foldA ? null : broadcastOffsets(bBatch, batch);
  if (foldA) {
    gemm.sgemm({ transA: false, transB: false, M: nb * M, N, K, A: a.data, B: b.data, C: out.data });
  } else {
    for (let i = 0; i < nb; i++) {
      gemm.sgemm({
        transA: false, transB: false, M, N, K,
        A: a.data, aOffset: aOffs![i] * M * K,
        B: b.data, bOffset: bOffs![i] * K * N,
        C: out.data, cOffset: i * M * N,
      });
    }
  }
  if (!a.requiresGrad && !b.requiresGrad) return out;
  return record(
    out,
    'MmBackward0',
    [a, b],
    (g, needs) => {
      let ga: Float32Array | null = null;
      let gb: Float32Array | null = null;
      if (foldA) {
        if (needs[0]) {
          ga = new Float32Array(a.data.length);
          gemm.sgemm({ transA: false, transB: true, M: nb * M, N: K, K: N, A: g, B: b.data, C: ga });
        }
        if (needs[1]) {
          gb = new Float32Array(b.data.length);
          gemm.sgemm({ transA: true, transB: false, M: K, N, K: nb * M, A: a.data, B: g, C: gb });
        }
        return [ga, gb];
      }
      // An operand reused across batches gets the sum of its per-batch gradients, in PyTorch's order: a matrix
      // (no batch dims) is folded by PyTorch into one long product, i.e. one sum continued batch after batch
      // (accumulate); a broadcast batched operand is expanded, so its per-batch products are summed afterwards
      // (sum_to over the expanded dims).
      const aSum = a.data.length !== nb * M * K && aBatch.length > 0;
      const bSum = b.data.length !== nb * K * N && bBatch.length > 0;
      const pa = needs[0] ? new Float32Array(aSum ? nb * M * K : a.data.length) : null;
      const pb = needs[1] ? new Float32Array(bSum ? nb * K * N : b.data.length) : null;
      for (let i = 0; i < nb; i++) {
        const ao = aOffs![i] * M * K;
        const bo = bOffs![i] * K * N;
        const go = i * M * N;
        if (pa) gemm.sgemm({ transA: false, transB: true, M, N: K, K: N, A: g, aOffset: go, B: b.data, bOffset: bo, C: pa, cOffset: aSum ? i * M * K : ao, accumulate: !aSum });
        if (pb) gemm.sgemm({ transA: true, transB: false, M: K, N, K: M, A: a.data, aOffset: ao, B: g, bOffset: go, C: pb, cOffset: bSum ? i * K * N : bo, accumulate: !bSum });
      }
      ga = pa && aSum ? sumToShape(pa, [...batch, M, K], aS) : pa;
      gb = pb && bSum ? sumToShape(pb, [...batch, K, N], bS) : pb;
      return [ga, gb];
    },
    [...(b.requiresGrad ? [a] : []), ...(a.requiresGrad ? [b] : [])],
  );
}
