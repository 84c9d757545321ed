/**
 * torch.optim.Adam (PyTorch 1.13's single-tensor path), float32 operation by operation:
 *   g = grad (+ weight_decay * p)                        grad.add(param, alpha=weight_decay)
 *   m = beta1 * m + (1 - beta1) * g                      exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
 *   v = beta2 * v + (1 - beta2) * g * g                  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
 *   bias corrections, step size and sqrt(bc2) in double (Python floats)
 *   denom = sqrt(v) / sqrt(bc2) + eps                    (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
 *   p = p + (-step_size * m) / denom                     param.addcdiv_(exp_avg, denom, value=-step_size)
 * with amsgrad using max(v) over time in the denominator. Scalars are cast to float32 as PyTorch's kernels cast
 * them; products feeding an addition are fused (fmaf) as in PyTorch's FMA-compiled kernels.
 */
import { ValueError } from '../errors.js';
import { fmaf } from '../fmaf.js';
import { Tensor } from '../tensor.js';
import { checkTypes, gradOf, Optimizer, touched, type ParamState, type ParamsArg } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

const f32 = Math.fround;

function stateTensor(state: ParamState, key: string, p: Tensor): Float32Array {
  let t = state[key];
  if (!(t instanceof Tensor)) state[key] = t = new Tensor(new Float32Array(p.data.length), p.shape.slice());
  return t.data;
}

export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...opts });
  }

  protected validate(o: AdamOptions): void {
    checkTypes(o, ['lr', 'eps', 'weightDecay'], ['amsgrad', 'maximize']);
    if (!(o.lr >= 0)) throw new ValueError(`Invalid learning rate: ${o.lr}`);
    if (!(o.eps >= 0)) throw new ValueError(`Invalid epsilon value: ${o.eps}`);
    if (!Array.isArray(o.betas) || o.betas.length !== 2 || !o.betas.every((b) => typeof b === 'number')) throw new ValueError(`Invalid betas: ${JSON.stringify(o.betas)} (expected [beta1, beta2])`);
    if (!(o.betas[0] >= 0 && o.betas[0] < 1)) throw new ValueError(`Invalid beta parameter at index 0: ${o.betas[0]}`);
    if (!(o.betas[1] >= 0 && o.betas[1] < 1)) throw new ValueError(`Invalid beta parameter at index 1: ${o.betas[1]}`);
    if (!(o.weightDecay >= 0)) throw new ValueError(`Invalid weight_decay value: ${o.weightDecay}`);
  }

  step(): void {
    for (const group of this.paramGroups) {
      const [beta1, beta2] = group.betas;
      const b1 = f32(beta1);
      const b2 = f32(beta2);
      const oneMinusB1 = f32(1 - beta1);
      const oneMinusB2 = f32(1 - beta2);
      const wd = f32(group.weightDecay);
      const eps = f32(group.eps);
      for (const p of group.params) {
        const grad = gradOf(p);
        if (grad === null) continue;
        let state = this.state.get(p);
        if (state === undefined) {
          state = { step: 0 };
          this.state.set(p, state);
        }
        const m = stateTensor(state, 'exp_avg', p);
        const v = stateTensor(state, 'exp_avg_sq', p);
        const vmax = group.amsgrad ? stateTensor(state, 'max_exp_avg_sq', p) : null;
        const step = (state.step as number) + 1;
        state.step = step;

        const bc1 = 1 - beta1 ** step;
        const bc2 = 1 - beta2 ** step;
        const negStepSize = f32(-(group.lr / bc1));
        const bc2Sqrt = f32(Math.sqrt(bc2));
        const x = p.data;
        const n = x.length;
        for (let i = 0; i < n; i++) {
          let g = group.maximize ? -grad[i]! : grad[i]!;
          if (group.weightDecay !== 0) g = fmaf(wd, x[i]!, g);
          m[i] = fmaf(oneMinusB1, g, f32(m[i]! * b1));
          v[i] = fmaf(f32(oneMinusB2 * g), g, f32(v[i]! * b2));
          let second = v[i]!;
          if (vmax !== null) {
            // torch.maximum: NaN wins
            const prev = vmax[i]!;
            vmax[i] = second > prev || Number.isNaN(second) ? second : prev;
            second = vmax[i]!;
          }
          const denom = f32(f32(f32(Math.sqrt(second)) / bc2Sqrt) + eps);
          x[i] = f32(x[i]! + f32(f32(negStepSize * m[i]!) / denom));
        }
        touched(p);
      }
    }
  }
}
