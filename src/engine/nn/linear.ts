/** nn.Linear: y = x Wᵀ + b with PyTorch's parameter layout and default initialisation. */
import { ValueError } from '../errors.js';
import { linear } from '../ops/linear.js';
import type { Generator } from '../random.js';
import { Tensor, zeros } from '../tensor.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  bias?: boolean;
  /** Generator for the initial weights (default: the global one, as in PyTorch). */
  generator?: Generator;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [what, v] of [['in_features', inFeatures], ['out_features', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ValueError(`Linear: ${what} must be a non-negative integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.registerParameter('weight', zeros([outFeatures, inFeatures]));
    this.registerParameter('bias', (opts.bias ?? true) ? zeros([outFeatures]) : null);
    this.resetParameters(opts.generator);
  }

  /** [out_features, in_features] */
  get weight(): Tensor {
    return this.getParameter('weight')!;
  }

  /** [out_features], or null when built with `{bias: false}`. */
  get bias(): Tensor | null {
    return this.getParameter('bias');
  }

  /**
   * PyTorch's reset_parameters: kaiming_uniform_(weight, a=sqrt(5)), then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
   * The weight draws come first, so both consume the generator in PyTorch's order.
   */
  resetParameters(generator?: Generator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    const bias = this.bias;
    if (bias !== null) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(bias, -bound, bound, { generator });
    }
  }

  forward(input: Tensor): Tensor {
    return linear(input, this.weight, this.bias);
  }

  override toString(): string {
    return `Linear(in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null ? 'True' : 'False'})`;
  }
}
