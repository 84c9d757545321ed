/** nn.Sequential: children named "0", "1", ... (so state-dict keys read `0.weight`, `2.bias`), applied in order. */
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class Sequential extends Module {
  private readonly layers: Module[];

  constructor(...modules: Module[]) {
    super();
    this.layers = modules;
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw new ValueError(`Sequential: argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }

  get length(): number {
    return this.layers.length;
  }

  /** The child at `index` (negative counts from the end, as in Python). */
  at(index: number): Module {
    const i = index < 0 ? index + this.layers.length : index;
    const m = this.layers[i];
    if (m === undefined) throw new ValueError(`index ${index} is out of range for Sequential of length ${this.layers.length}`);
    return m;
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }
}
