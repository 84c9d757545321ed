/**
 * torch.optim.SGD (PyTorch 1.13's single-tensor path), float32 operation by operation:
 *   d = g (+ weight_decay * p)                         d_p.add(param, alpha=weight_decay)
 *   buf = d on the first step, else momentum * buf + (1 - dampening) * d
 *   d = nesterov ? d + momentum * buf : buf
 *   p = p - lr * d                                      param.add_(d_p, alpha=-lr)
 * Scalars are cast to float32 as PyTorch's kernels cast them, and `x + alpha * y` is one fused multiply-add
 * (PyTorch's vectorised add uses fmadd), so the results are bit-identical to PyTorch on x86-64.
 */
import { ValueError } from '../errors.js';
import { fmaf } from '../fmaf.js';
import { Tensor } from '../tensor.js';
import { checkTypes, gradOf, Optimizer, touched, type ParamsArg } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

const f32 = Math.fround;

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    if (opts === undefined || opts.lr === undefined) throw new ValueError('SGD: the learning rate (lr) is required');
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts });
  }

  protected validate(o: SGDOptions): void {
    checkTypes(o, ['lr', 'momentum', 'dampening', 'weightDecay'], ['nesterov', 'maximize']);
    if (!(o.lr >= 0)) throw new ValueError(`Invalid learning rate: ${o.lr}`);
    if (!(o.momentum >= 0)) throw new ValueError(`Invalid momentum value: ${o.momentum}`);
    if (!(o.weightDecay >= 0)) throw new ValueError(`Invalid weight_decay value: ${o.weightDecay}`);
    if (!Number.isFinite(o.dampening)) throw new ValueError(`Invalid dampening value: ${o.dampening}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new ValueError('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  step(): void {
    for (const group of this.paramGroups) {
      const wd = f32(group.weightDecay);
      const momentum = f32(group.momentum);
      const keep = f32(1 - group.dampening);
      const negLr = f32(-group.lr);
      for (const p of group.params) {
        const g = gradOf(p);
        if (g === null) continue;
        const n = g.length;
        const x = p.data;
        let d: Float32Array = g;
        if (group.maximize || group.weightDecay !== 0) {
          d = new Float32Array(n);
          for (let i = 0; i < n; i++) {
            const gi = group.maximize ? -g[i]! : g[i]!;
            d[i] = group.weightDecay !== 0 ? fmaf(wd, x[i]!, gi) : gi;
          }
        }
        if (group.momentum !== 0) {
          let state = this.state.get(p);
          if (state === undefined) this.state.set(p, (state = {}));
          const prev = state.momentum_buffer;
          let buf: Float32Array;
          if (!(prev instanceof Tensor)) {
            buf = Float32Array.from(d);
            state.momentum_buffer = new Tensor(buf, p.shape.slice());
          } else {
            buf = prev.data;
            for (let i = 0; i < n; i++) buf[i] = fmaf(keep, d[i]!, f32(buf[i]! * momentum));
          }
          if (group.nesterov) {
            const nd = new Float32Array(n);
            for (let i = 0; i < n; i++) nd[i] = fmaf(momentum, buf[i]!, d[i]!);
            d = nd;
          } else {
            d = buf;
          }
        }
        for (let i = 0; i < n; i++) x[i] = fmaf(negLr, d[i]!, x[i]!);
        touched(p);
      }
    }
  }
}
