/** Loss functions as ops (nn's loss modules call these). */
import { record } from '../autograd.js';
import { ValueError } from '../errors.js';
import { cascadeSum } from '../kernels/elementwise.js';
import { sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { mean, sum } from './reduce.js';

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * F.mse_loss: (input - target)² reduced by mean (default), sum, or none. Same shapes take one fused node;
 * broadcasting shapes (PyTorch warns but allows it) go through the elementwise ops.
 */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new ValueError(`${String(reduction)} is not a valid value for reduction (expected 'mean', 'sum' or 'none')`);
  }
  if (!sameShape(input.shape, target.shape)) {
    const sq = input.sub(target).pow(2);
    return reduction === 'none' ? sq : reduction === 'sum' ? sum(sq) : mean(sq);
  }
  const n = input.data.length;
  const a = input.data;
  const b = target.data;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = a[i] - b[i];
  const sq = new Float32Array(n);
  for (let i = 0; i < n; i++) sq[i] = d[i] * d[i];
  let out: Tensor;
  if (reduction === 'none') {
    out = new Tensor(sq, input.shape.slice());
  } else {
    // PyTorch reduces the squares with its sum kernel (then divides for the mean): same order, same bits.
    const s = cascadeSum(sq, 0, n);
    out = new Tensor(Float32Array.of(reduction === 'mean' ? s / n : s), []);
  }
  // PyTorch: grad_input = norm * (input - target) * grad, norm = 2/numel for mean, else 2.
  const norm = reduction === 'mean' ? Math.fround(2 / n) : 2;
  return record(
    out,
    'MseLossBackward0',
    [input, target],
    (g, needs) => {
      const gi = new Float32Array(n);
      for (let i = 0; i < n; i++) gi[i] = Math.fround(norm * d[i]) * (reduction === 'none' ? g[i] : g[0]);
      let gt: Float32Array | null = null;
      if (needs[1]) {
        gt = new Float32Array(n);
        for (let i = 0; i < n; i++) gt[i] = -gi[i];
      }
      return [needs[0] ? gi : null, gt];
    },
    [input, target],
  );
}
