/**
 * nn.Module: a tree of modules owning parameters, with PyTorch's naming and ordering. Parameters and children
 * are registered explicitly (`registerParameter`, `registerModule`), in the order PyTorch would see the
 * assignments in `__init__`; that order is the order of `parameters()`, `namedParameters()` and `stateDict()`.
 */
import { noGrad } from '../autograd.js';
import { ValueError } from '../errors.js';
import { shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** Whether the module is in training mode (`train()`/`eval()`). */
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _modules = new Map<string, Module>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /**
   * Registers (or replaces) a parameter under `name`; it becomes a leaf that requires grad, as nn.Parameter
   * does. `null` registers an absent parameter (Linear without bias), which is skipped everywhere.
   */
  registerParameter(name: string, param: Tensor | null): Tensor | null {
    checkName(name, this);
    if (param !== null) {
      if (!(param instanceof Tensor)) throw new ValueError(`cannot assign ${typeof param} as parameter '${name}' (Tensor or null expected)`);
      if (!param.isLeaf) {
        throw new ValueError(
          `Cannot assign non-leaf Tensor to parameter '${name}'. Model parameters must be created explicitly. ` +
            'To express a parameter as a function of another Tensor, compute the value in the forward() method.',
        );
      }
      param.requiresGrad = true;
    }
    this._parameters.set(name, param);
    return param;
  }

  /** A tensor that is part of the state (stateDict) but not trained. */
  registerBuffer(name: string, buffer: Tensor | null): Tensor | null {
    checkName(name, this);
    this._buffers.set(name, buffer);
    return buffer;
  }

  registerModule<M extends Module>(name: string, module: M): M {
    checkName(name, this);
    if (!(module instanceof Module)) throw new ValueError(`${String(module)} is not a Module subclass`);
    this._modules.set(name, module);
    return module;
  }

  /** The parameter registered under `name` (own, not a child's), or null. */
  getParameter(name: string): Tensor | null {
    return this._parameters.get(name) ?? null;
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this._modules.entries();
  }

  children(): Module[] {
    return [...this._modules.values()];
  }

  /** This module, then every descendant depth-first (PyTorch's named_modules), each module once. */
  namedModules(prefix = '', memo = new Set<Module>()): [string, Module][] {
    if (memo.has(this)) return [];
    memo.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this._modules) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, memo));
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** `[name, parameter]` in PyTorch's order (own parameters, then each child's), shared parameters once. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [modName, mod] of this.namedModules(prefix)) {
      for (const [name, p] of mod._parameters) {
        if (p === null || seen.has(p)) continue;
        seen.add(p);
        out.push([modName ? `${modName}.${name}` : name, p]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /**
   * name -> tensor, in PyTorch's state_dict order (each module's parameters, then its buffers, then its
   * children's entries). As in PyTorch the values share storage with the parameters (they are detached, not
   * copied): serialize them, or `clone()` them, before training on if you need a snapshot.
   */
  stateDict(prefix = ''): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.collectState(prefix, out);
    return out;
  }

  private collectState(prefix: string, out: Record<string, Tensor>): void {
    for (const [name, p] of this._parameters) if (p !== null) out[prefix + name] = p.detach();
    for (const [name, b] of this._buffers) if (b !== null) out[prefix + name] = b.detach();
    for (const [name, child] of this._modules) child.collectState(`${prefix}${name}.`, out);
  }

  /**
   * Copies the values of `stateDict` into this module's parameters and buffers (in place, so optimizers keep
   * working on the same tensors). Shape mismatches always fail; with `strict` (default) missing and unexpected
   * keys fail too — all problems are reported at once, in PyTorch's words.
   */
  loadStateDict(stateDict: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    if (typeof stateDict !== 'object' || stateDict === null) {
      throw new ValueError(`Expected state_dict to be dict-like, got ${stateDict === null ? 'null' : typeof stateDict}.`);
    }
    const own = this.stateDict();
    const errors: string[] = [];
    const missingKeys = Object.keys(own).filter((k) => !Object.prototype.hasOwnProperty.call(stateDict, k));
    const unexpectedKeys = Object.keys(stateDict).filter((k) => !Object.prototype.hasOwnProperty.call(own, k));
    const copies: [Tensor, Tensor][] = [];
    for (const [key, target] of Object.entries(own)) {
      if (!Object.prototype.hasOwnProperty.call(stateDict, key)) continue;
      const src = stateDict[key];
      if (!(src instanceof Tensor)) {
        errors.push(`While copying the parameter named "${key}", expected Tensor from checkpoint but received ${typeof src}`);
        continue;
      }
      if (shapeStr(src.shape) !== shapeStr(target.shape)) {
        errors.push(
          `size mismatch for ${key}: copying a param with shape ${shapeStr(src.shape)} from checkpoint, ` +
            `the shape in current model is ${shapeStr(target.shape)}.`,
        );
        continue;
      }
      copies.push([target, src]);
    }
    if (strict) {
      if (unexpectedKeys.length > 0) errors.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}. `);
      if (missingKeys.length > 0) errors.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}. `);
    }
    if (errors.length > 0) {
      throw new ValueError(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    }
    // Nothing is written unless everything can be: a failed load leaves the model as it was.
    noGrad(() => {
      for (const [target, src] of copies) target.copy_(src);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and all descendants (affects modules like dropout; none here yet). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** PyTorch-style summary: `Name(...)` with the children listed (subclasses add their own details). */
  toString(): string {
    const children = [...this._modules].map(([name, m]) => `  (${name}): ${String(m).replace(/\n/g, '\n  ')}`);
    return children.length === 0 ? `${this.constructor.name}()` : `${this.constructor.name}(\n${children.join('\n')}\n)`;
  }

  /**
   * Clears the gradients of all parameters. Like PyTorch 2 (and unlike 1.13's default), gradients are set to
   * null rather than zero-filled; the next backward allocates fresh ones, so the numbers are the same.
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    zeroGrads(this.parameters(), opts.setToNone ?? true);
  }
}

export function zeroGrads(params: Iterable<Tensor>, setToNone: boolean): void {
  for (const p of params) {
    if (p.grad === null) continue;
    if (setToNone) p.grad = null;
    else noGrad(() => p.grad!.detach().zero_());
  }
}

function checkName(name: string, mod: Module): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new ValueError(`${mod.constructor.name}: module, parameter and buffer names must be non-empty strings without ".", got "${name}"`);
  }
}
