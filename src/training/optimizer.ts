/**
 * torch.optim.SGD / torch.optim.Adam from the spec, every option passed through.
 *
 * One exception, on purpose: the tutorial net (two_layer_net with init 'randn') trained with plain SGD (no
 * momentum, no weight decay) uses the tutorial's own update `w -= lr * w.grad`: a rounded product, then a rounded
 * subtraction. torch.optim.SGD computes `p.add_(g, alpha=-lr)` as one fused multiply-add, which rounds once and
 * drifts from the tutorial's numbers after a few steps (measured: 0.26% apart at step 500, against 0 with the
 * tutorial's rule). The 'randn' net is the tutorial's program, so it gets the tutorial's update; every other
 * model and option combination is torch.optim's. A learning-rate schedule makes it torch.optim's too: a PyTorch
 * scheduler drives a torch.optim optimizer, so that is the program a schedule's numbers come from.
 */
import { noGrad, optim, type Tensor } from '../engine/index.js';
import type { ModelSpec, OptimizerSpec, SchedulerSpec } from '../spec/job-spec.js';

export interface TrainingOptimizer {
  zeroGrad(): void;
  step(): void;
  stateDict(): optim.OptimizerStateDict;
  loadStateDict(sd: optim.OptimizerStateDict): void;
}

/** The tutorial's manual SGD step. Stateless (its state dict has only the hyperparameters). */
class TutorialSGD implements TrainingOptimizer {
  constructor(
    private readonly params: Tensor[],
    private readonly lr: number,
  ) {}
  zeroGrad(): void {
    // The tutorial's own w.grad.zero_(). Not `grad = null`: with a .grad in place, mm's backward writes the product
    // into it (rounded as a separate add: 0 + p = p), whereas a null .grad makes every step allocate a fresh
    // 400 KB gradient, and the extra external memory brings more garbage collections (measured: ~10% of a
    // tutorial job's time). The first step, with no .grad yet, allocates it.
    noGrad(() => {
      for (const p of this.params) p.grad?.zero_();
    });
  }
  step(): void {
    // w -= lr * w.grad, with the product computed in the .grad itself (the same float32 rounding as w.grad.mul(lr))
    // instead of a fresh 400 KB temporary per step for the tutorial's w1: the .grad is zero-filled before the next
    // backward anyway, and nothing reads it in between.
    noGrad(() => {
      for (const p of this.params) if (p.grad) p.sub_(p.grad.mul_(this.lr));
    });
  }
  stateDict(): optim.OptimizerStateDict {
    return { state: {}, paramGroups: [{ lr: this.lr, params: this.params.map((_, i) => i) }] };
  }
  loadStateDict(sd: optim.OptimizerStateDict): void {
    if (!sd || !Array.isArray(sd.paramGroups) || sd.paramGroups.length !== 1) {
      throw new Error('tutorial SGD state dict must have exactly one parameter group');
    }
  }
}

export function isTutorialSgd(model: ModelSpec, spec: OptimizerSpec, scheduler?: SchedulerSpec): boolean {
  return (
    scheduler === undefined &&
    model.kind === 'two_layer_net' &&
    (model.init ?? 'randn') === 'randn' &&
    spec.kind === 'sgd' &&
    (spec.momentum ?? 0) === 0 &&
    (spec.weightDecay ?? 0) === 0 &&
    !(spec.nesterov ?? false)
  );
}

/** A learning-rate schedule over a torch.optim optimizer (never the tutorial's SGD, see isTutorialSgd). */
export function buildScheduler(spec: SchedulerSpec, optimizer: TrainingOptimizer): optim.LRScheduler {
  if (!(optimizer instanceof optim.Optimizer)) throw new Error('a learning-rate schedule needs a torch.optim optimizer');
  return spec.kind === 'step'
    ? new optim.StepLR(optimizer, spec.stepSize, spec.gamma ?? 0.1)
    : new optim.CosineAnnealingLR(optimizer, spec.tMax, spec.etaMin ?? 0);
}

export function buildOptimizer(model: ModelSpec, spec: OptimizerSpec, params: Tensor[], scheduler?: SchedulerSpec): TrainingOptimizer {
  if (isTutorialSgd(model, spec, scheduler)) return new TutorialSGD(params, spec.lr);
  if (spec.kind === 'sgd') {
    return new optim.SGD(params, {
      lr: spec.lr,
      momentum: spec.momentum ?? 0,
      dampening: spec.dampening ?? 0,
      weightDecay: spec.weightDecay ?? 0,
      nesterov: spec.nesterov ?? false,
    });
  }
  return new optim.Adam(params, {
    lr: spec.lr,
    betas: [spec.betas?.[0] ?? 0.9, spec.betas?.[1] ?? 0.999],
    eps: spec.eps ?? 1e-8,
    weightDecay: spec.weightDecay ?? 0,
    amsgrad: spec.amsgrad ?? false,
  });
}
