/** F.linear: y = x · Wᵀ + b over the last dim of x, as one node (nn.Linear's forward). */
import { ACCUMULATED, record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import * as gemm from '../kernels/gemm.js';
import { sumToShape } from '../kernels/elementwise.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.shape.length !== 2) throw new ShapeError(`linear(): weight must be 2-D [out, in], got shape ${shapeStr(weight.shape)}`);
  if (x.shape.length === 0) throw new ShapeError('linear(): input must be at least 1-D, got a 0-d tensor');
  const [N, K] = weight.shape;
  const K2 = x.shape[x.shape.length - 1];
  const M = x.data.length / (K2 || 1);
  if (K2 !== K) {
    const rows = x.shape.length === 1 ? 1 : M;
    throw new ShapeError(`mat1 and mat2 shapes cannot be multiplied (${rows}x${K2} and ${K}x${N})`);
  }
  if (bias && !(bias.shape.length <= 1 && bias.data.length === N)) {
    throw new ShapeError(`linear(): bias must have shape [${N}], got ${shapeStr(bias.shape)}`);
  }
  const outShape = [...x.shape.slice(0, -1), N];
  const y = new Float32Array(M * N);
  gemm.sgemm({ transA: false, transB: true, M, N, K, A: x.data, B: weight.data, C: y });
  if (bias) {
    // PyTorch's addmm(bias, x, Wᵀ) reaches BLAS with W transposed, whose dot-product form finishes each sum and
    // then adds beta·C: the bias comes last (fl(x·w + b)), not first.
    const b = bias.data;
    for (let i = 0; i < M; i++) for (let j = 0, o = i * N; j < N; j++) y[o + j] = y[o + j] + b[j];
  }
  const out = new Tensor(y, outShape);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(
    out,
    bias ? 'AddmmBackward0' : 'MmBackward0',
    inputs,
    (g, needs, into) => {
      let gx: Float32Array | null = null;
      let gw: Float32Array | null = null;
      let gb: Float32Array | null = null;
      // A leaf's existing .grad (into[i]) receives its gradient directly, rounded as a separate add would be.
      const dest = (i: number): Float32Array | null => {
        const d = into?.[i] ?? null;
        return d === g || d === x.data || d === weight.data ? null : d;
      };
      if (needs[0]) {
        // dX = G · W  [M×N]·[N×K]
        const d = dest(0);
        gx = d ? ACCUMULATED : new Float32Array(M * K);
        gemm.sgemm({ transA: false, transB: false, M, N: K, K: N, A: g, B: weight.data, C: d ?? gx, accumulateRounded: d !== null });
      }
      if (needs[1]) {
        // dW = Gᵀ · X  [N×M]·[M×K]
        const d = dest(1);
        gw = d ? ACCUMULATED : new Float32Array(N * K);
        gemm.sgemm({ transA: true, transB: false, M: N, N: K, K: M, A: g, B: x.data, C: d ?? gw, accumulateRounded: d !== null });
      }
      if (bias && needs[2]) {
        // Column sums of G, in PyTorch's order (grad.sum(0)).
        const sums = sumToShape(g, [M, N], [N]);
        const d = dest(2);
        if (d) {
          for (let j = 0; j < N; j++) d[j] += sums[j];
          gb = ACCUMULATED;
        } else {
          gb = sums === g ? g.slice() : sums;
        }
      }
      return bias ? [gx, gw, gb] : [gx, gw];
    },
    [...(weight.requiresGrad ? [x] : []), ...(x.requiresGrad ? [weight] : [])],
  );
}
