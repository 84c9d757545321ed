/** Activation modules (stateless wrappers around the ops). */
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(input: Tensor): Tensor {
    return input.relu();
  }
  override toString(): string {
    return 'ReLU()';
  }
}

export class Tanh extends Module {
  forward(input: Tensor): Tensor {
    return input.tanh();
  }
  override toString(): string {
    return 'Tanh()';
  }
}

export class Sigmoid extends Module {
  forward(input: Tensor): Tensor {
    return input.sigmoid();
  }
  override toString(): string {
    return 'Sigmoid()';
  }
}
