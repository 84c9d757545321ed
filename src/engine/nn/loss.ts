/** Loss modules: `new nn.MSELoss({reduction})`, then `lossFn.forward(prediction, target)`. */
import { ValueError } from '../errors.js';
import { mseLoss, type Reduction } from '../ops/loss.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class MSELoss extends Module {
  readonly reduction: Reduction;

  constructor(opts: { reduction?: Reduction } = {}) {
    super();
    const reduction = opts.reduction ?? 'mean';
    if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
      throw new ValueError(`${String(reduction)} is not a valid value for reduction (expected 'mean', 'sum' or 'none')`);
    }
    this.reduction = reduction;
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.reduction);
  }
}
