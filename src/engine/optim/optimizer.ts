/**
 * Optimizer base: parameter groups, per-parameter state, zeroGrad, and a state dict that is enough to resume
 * training exactly (the hyperparameters of every group plus every state tensor and counter).
 */
import { ValueError } from '../errors.js';
import { zeroGrads } from '../nn/module.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export type StateValue = Tensor | number;
export type ParamState = Record<string, StateValue>;

/** A group of parameters sharing hyperparameters (PyTorch's param_groups entries). */
export type ParamGroup<O> = O & { params: Tensor[] };

/** What `new SGD(...)`/`new Adam(...)` accept: tensors, or groups with per-group overrides. */
export type ParamsArg<O> = Iterable<Tensor> | Array<Partial<O> & { params: Iterable<Tensor> }>;

export interface OptimizerStateDict {
  /** Per parameter (by its index across all groups, in order), the optimizer's state: tensors and numbers. */
  state: Record<string, ParamState>;
  /** Each group's hyperparameters, with `params` replaced by the parameters' indices. */
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

export abstract class Optimizer<O extends object> {
  readonly defaults: O;
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state, created lazily on the first step that sees a gradient (as in PyTorch). */
  readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsArg<O>, defaults: O) {
    this.defaults = defaults;
    const list = [...(params as Iterable<Tensor | (Partial<O> & { params: Iterable<Tensor> })>)];
    if (list.length === 0) throw new ValueError('optimizer got an empty parameter list');
    const groups = (list[0] instanceof Tensor ? [{ params: list }] : list) as (Partial<O> & { params: Iterable<Tensor> })[];
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; options it does not set take the optimizer's defaults. */
  addParamGroup(group: Partial<O> & { params: Iterable<Tensor> }): void {
    if (group === null || typeof group !== 'object' || !('params' in group)) {
      throw new ValueError('param group must be an object with a "params" list');
    }
    const params = group.params instanceof Tensor ? [group.params] : [...group.params];
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new ValueError(`optimizer can only optimize Tensors, but one of the params is ${typeof p}`);
      if (!p.isLeaf) throw new ValueError("can't optimize a non-leaf Tensor");
    }
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    if (params.some((p) => seen.has(p))) throw new ValueError('some parameters appear in more than one parameter group');
    if (new Set(params).size !== params.length) throw new ValueError('optimizer contains a parameter group with duplicate parameters');
    const merged = { ...this.defaults, ...group, params } as ParamGroup<O>;
    this.validate(merged);
    this.paramGroups.push(merged);
  }

  /** Throws PyTorch's ValueError for invalid hyperparameters ("Invalid learning rate: -1"). */
  protected abstract validate(options: O): void;

  /** One update of every parameter that has a gradient. */
  abstract step(): void;

  /**
   * Clears gradients. Like PyTorch 2 (1.13 zero-filled by default), they are set to null; the next backward
   * allocates new ones, which is numerically identical. `{setToNone: false}` zero-fills in place instead.
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    zeroGrads(
      this.paramGroups.flatMap((g) => g.params),
      opts.setToNone ?? true,
    );
  }

  /** A snapshot (state tensors are cloned), shaped like PyTorch's optimizer.state_dict(). */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...options } = g;
      return { ...structuredCloneOptions(options), params: params.map((p) => index.get(p) ?? (index.set(p, index.size), index.size - 1)) };
    });
    const state: Record<string, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = v instanceof Tensor ? v.clone().detach() : v;
      state[String(i)] = copy;
    }
    return { state, paramGroups };
  }

  /** Restores hyperparameters and state saved by `stateDict()` into an optimizer over the same parameter layout. */
  loadStateDict(sd: OptimizerStateDict): void {
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object' || sd.state === null) {
      throw new ValueError('optimizer state dict must have "state" and "paramGroups"');
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new ValueError(
        `loaded state dict has a different number of parameter groups (${sd.paramGroups.length}, optimizer has ${this.paramGroups.length})`,
      );
    }
    const byIndex = new Map<number, Tensor>();
    sd.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        throw new ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group");
      }
      saved.params.forEach((idx, k) => byIndex.set(idx, group.params[k]!));
    });
    const newState = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(key));
      if (p === undefined) throw new ValueError(`optimizer state refers to parameter ${key}, which no group lists`);
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          if (shapeStr(v.shape) !== shapeStr(p.shape)) {
            throw new ValueError(`optimizer state "${k}" of parameter ${key} has shape ${shapeStr(v.shape)}, the parameter has ${shapeStr(p.shape)}`);
          }
          copy[k] = v.clone().detach();
        } else if (typeof v === 'number') {
          copy[k] = v;
        } else {
          throw new ValueError(`optimizer state "${k}" of parameter ${key} must be a Tensor or a number`);
        }
      }
      newState.set(p, copy);
    }
    const groups = sd.paramGroups.map((saved, gi) => {
      const { params: _ignored, ...options } = saved;
      const merged = { ...this.paramGroups[gi]!, ...structuredCloneOptions(options), params: this.paramGroups[gi]!.params } as ParamGroup<O>;
      this.validate(merged);
      return merged;
    });
    groups.forEach((g, i) => (this.paramGroups[i] = g));
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }
}

/** Hyperparameters are plain JSON values (numbers, booleans, arrays like betas); copy them so snapshots stay put. */
function structuredCloneOptions(options: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(options)) as Record<string, unknown>;
}

/** Hyperparameters come from user JSON and checkpoints: a string "0.1" must not pass as a number. */
export function checkTypes(o: object, numbers: string[], booleans: string[]): void {
  const rec = o as Record<string, unknown>;
  for (const k of numbers) {
    if (typeof rec[k] !== 'number') throw new ValueError(`optimizer option ${k} must be a number, got ${JSON.stringify(rec[k])}`);
  }
  for (const k of booleans) {
    if (typeof rec[k] !== 'boolean') throw new ValueError(`optimizer option ${k} must be a boolean, got ${JSON.stringify(rec[k])}`);
  }
}

/** The gradient of `p` as a Float32Array, or null when the parameter took no part in the last backward. */
export function gradOf(p: Tensor): Float32Array | null {
  if (p.grad === null) return null;
  if (p.grad.data.length !== p.data.length) {
    throw new ValueError(`gradient of shape ${shapeStr(p.grad.shape)} does not match parameter of shape ${shapeStr(p.shape)}`);
  }
  return p.grad.data;
}

/** Marks an in-place update of a parameter's storage (PyTorch bumps the version counter on add_ etc.). */
export function touched(t: Tensor): void {
  t._version.value++;
}
