/**
 * torch.optim.lr_scheduler.StepLR and CosineAnnealingLR (PyTorch 1.13), in their chainable form: each step()
 * computes every group's new lr from its CURRENT lr, in double, with the same operations in the same order as
 * lr_scheduler.py, so the lr sequence (and therefore every update) is PyTorch's to the bit.
 *
 * Use as in PyTorch: construct after the optimizer (this sets `initial_lr` and leaves the lr alone), then call
 * `step()` once per epoch AFTER the epoch's optimizer steps.
 *
 * cos is cos.ts's, not V8's Math.cos, which differs from Python's math.cos more often (see cos.ts).
 *
 * State for resume: `stateDict()` holds lastEpoch, stepCount and baseLrs; the current lr of each group lives in
 * the optimizer's own state dict (param groups), so restoring both continues the sequence exactly.
 */
import { ValueError } from '../errors.js';
import { correctlyRoundedCos as cos } from './cos.js';
import type { Optimizer } from './optimizer.js';

export interface LRSchedulerStateDict {
  kind: string;
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  [option: string]: unknown;
}

type Group = { lr: number; initialLr?: number };

export abstract class LRScheduler {
  /** The epoch count: 0 after construction, k after k calls of step() (PyTorch's last_epoch). */
  lastEpoch = -1;
  /** PyTorch's _step_count: 1 after construction. */
  protected stepCount = 0;
  baseLrs: number[];

  constructor(readonly optimizer: Optimizer<object>) {
    const groups = optimizer.paramGroups as unknown as Group[];
    for (const g of groups) {
      if (typeof g.lr !== 'number') throw new ValueError('lr scheduler: every parameter group needs a numeric lr');
      // group.setdefault('initial_lr', group['lr'])
      if (g.initialLr === undefined) g.initialLr = g.lr;
    }
    this.baseLrs = groups.map((g) => g.initialLr!);
  }

  /** Call at the end of a subclass constructor: PyTorch's _initial_step. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  protected abstract kind: string;
  protected abstract options(): Record<string, number>;
  /** The chainable form: new lrs from the groups' current lrs. */
  protected abstract getLr(): number[];

  private get groups(): Group[] {
    return this.optimizer.paramGroups as unknown as Group[];
  }
  protected currentLrs(): number[] {
    return this.groups.map((g) => g.lr);
  }

  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    const values = this.getLr();
    this.groups.forEach((g, i) => (g.lr = values[i]!));
  }

  getLastLr(): number[] {
    return this.currentLrs();
  }

  stateDict(): LRSchedulerStateDict {
    return { kind: this.kind, ...this.options(), lastEpoch: this.lastEpoch, stepCount: this.stepCount, baseLrs: this.baseLrs.slice() };
  }

  /** Restores a state saved by stateDict() of the same kind and options (the optimizer's lrs are restored by it). */
  loadStateDict(sd: LRSchedulerStateDict): void {
    if (!sd || sd.kind !== this.kind) throw new ValueError(`lr scheduler state is for ${JSON.stringify(sd?.kind)}, this scheduler is ${this.kind}`);
    for (const [k, v] of Object.entries(this.options())) {
      if (sd[k] !== v) throw new ValueError(`lr scheduler state has ${k}=${JSON.stringify(sd[k])}, this scheduler has ${k}=${v}`);
    }
    if (!Number.isInteger(sd.lastEpoch) || !Number.isInteger(sd.stepCount)) throw new ValueError('lr scheduler state needs integer lastEpoch and stepCount');
    if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.baseLrs.length || !sd.baseLrs.every((x) => typeof x === 'number')) {
      throw new ValueError(`lr scheduler state has ${sd.baseLrs?.length ?? 0} base lrs, the optimizer has ${this.baseLrs.length} groups`);
    }
    this.lastEpoch = sd.lastEpoch;
    this.stepCount = sd.stepCount;
    this.baseLrs = sd.baseLrs.slice();
  }
}

/** Multiplies every group's lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  protected kind = 'step';
  constructor(
    optimizer: Optimizer<object>,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    if (!Number.isInteger(stepSize) || stepSize < 1) throw new ValueError(`StepLR: stepSize must be an integer >= 1, got ${stepSize}`);
    if (!Number.isFinite(gamma)) throw new ValueError(`StepLR: gamma must be a finite number, got ${gamma}`);
    this.initialStep();
  }
  protected options(): Record<string, number> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
}

/**
 * Cosine annealing from each group's initial lr down to etaMin over tMax epochs, then back up (the chainable
 * recurrence keeps going past tMax, as PyTorch's does: a cosine of period 2*tMax).
 */
export class CosineAnnealingLR extends LRScheduler {
  protected kind = 'cosine';
  constructor(
    optimizer: Optimizer<object>,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    if (!Number.isInteger(tMax) || tMax < 1) throw new ValueError(`CosineAnnealingLR: tMax must be an integer >= 1, got ${tMax}`);
    if (!Number.isFinite(etaMin)) throw new ValueError(`CosineAnnealingLR: etaMin must be a finite number, got ${etaMin}`);
    this.initialStep();
  }
  protected options(): Record<string, number> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
  protected getLr(): number[] {
    const e = this.lastEpoch;
    const T = this.tMax;
    const etaMin = this.etaMin;
    const lrs = this.currentLrs();
    if (e === 0) return lrs;
    if (this.stepCount === 1 && e > 0) {
      // Only reachable when constructed with last_epoch > 0 in PyTorch; kept for fidelity.
      return this.baseLrs.map((base) => etaMin + ((base - etaMin) * (1 + cos((e * Math.PI) / T))) / 2);
    }
    // (e - 1 - T) % (2T) == 0: Python's % is never negative, but only equality with 0 matters here.
    if ((e - 1 - T) % (2 * T) === 0) {
      return lrs.map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - cos(Math.PI / T))) / 2);
    }
    return lrs.map(
      (lr) => ((1 + cos((Math.PI * e) / T)) / (1 + cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin,
    );
  }
}
