/**
 * The Tensor: a contiguous row-major Float32Array plus a shape, and autograd state. Every op is a method that
 * delegates to `ops/*`, where each op's forward and backward sit side by side.
 */
import { refreshView, runBackward, type BackwardOptions, type GradNode } from './autograd.js';
import { ValueError } from './errors.js';
import { normalFill, uniformFill } from './random.js';
import { numelOf, shapeStr } from './shape.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as shp from './ops/shape.js';
import * as cmp from './ops/compare.js';
import * as mat from './ops/matmul.js';
import * as inp from './ops/inplace.js';

export type Operand = Tensor | number;

/** Nested arrays of numbers, as `toArray()` returns them. */
export type NestedArray = number | NestedArray[];

/** What `tensor()` accepts besides a flat Float32Array: nested arrays of numbers (or booleans, as 0/1), whose rows may also be typed arrays. */
export type NestedInput = number | boolean | readonly NestedInput[] | Float32Array | Float64Array;

/** Shared by a tensor and its views (reshape, detach): bumped by every in-place change of the storage. */
export interface VersionCounter {
  value: number;
}

export class Tensor {
  /** Contiguous row-major values; length === numel(). */
  data: Float32Array;
  /** The size of each dimension (treat as readonly). */
  shape: number[];
  /** Accumulated gradient (leaves only), summed over backward calls until zeroed or set to null. */
  grad: Tensor | null = null;
  /** @internal backing fields of requiresGrad and gradFn (a view refreshes them from its base on read). */
  _requiresGrad: boolean;
  _gradFn: GradNode | null = null;
  /** @internal version counter shared with views; saved tensors compare it at backward time. */
  _version: VersionCounter;
  /** @internal the tensor whose storage this view shares (reshape/t of 1-D), for in-place rules. */
  _base: Tensor | null = null;
  /** @internal the base's gradFn when this view's history was made (a different one means it is stale). */
  _viewOf: GradNode | null = null;

  /** Wraps `data` without copying; `shape` must describe exactly data.length elements. */
  constructor(data: Float32Array, shape: number[], requiresGrad = false, version?: VersionCounter) {
    if (numelOf(shape) !== data.length) {
      throw new ValueError(`shape ${shapeStr(shape)} is invalid for input of size ${data.length}`);
    }
    this.data = data;
    this.shape = shape;
    this._requiresGrad = requiresGrad;
    this._version = version ?? { value: 0 };
  }

  get requiresGrad(): boolean {
    if (this._base !== null) refreshView(this);
    return this._requiresGrad;
  }

  set requiresGrad(value: boolean) {
    this._requiresGrad = value;
  }

  /** The node that produced this tensor, or null for leaves. */
  get gradFn(): GradNode | null {
    if (this._base !== null) refreshView(this);
    return this._gradFn;
  }

  set gradFn(node: GradNode | null) {
    this._gradFn = node;
  }

  /** PyTorch: every tensor without a grad_fn is a leaf (user-created, or not requiring grad). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Number of in-place modifications of this storage so far (PyTorch's `_version`). */
  get version(): number {
    return this._version.value;
  }

  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  size(dim?: number): number | number[] {
    if (dim === undefined) return this.shape.slice();
    return this.shape[dim < 0 ? dim + this.shape.length : dim];
  }

  numel(): number {
    return this.data.length;
  }

  item(): number {
    if (this.data.length !== 1) {
      throw new ValueError(`a Tensor with ${this.data.length} elements cannot be converted to Scalar (shape ${shapeStr(this.shape)})`);
    }
    return this.data[0];
  }

  /** Nested arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const data = this.data;
    const shape = this.shape;
    if (shape.length === 0) return data[0];
    const build = (d: number, off: number): NestedArray[] => {
      const n = shape[d];
      const res = new Array<NestedArray>(n);
      if (d === shape.length - 1) {
        for (let i = 0; i < n; i++) res[i] = data[off + i];
      } else {
        const step = numelOf(shape.slice(d + 1));
        for (let i = 0; i < n; i++) res[i] = build(d + 1, off + i * step);
      }
      return res;
    };
    return build(0, 0);
  }

  /** What console.log shows in Node (a registry symbol, so no Node API is needed). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  toString(): string {
    const body = JSON.stringify(this.toArray());
    const extra = this.gradFn ? `, gradFn=<${this.gradFn.name}>` : this.requiresGrad ? ', requiresGrad=true' : '';
    return `tensor(${body}${extra})`;
  }

  /** Sets requiresGrad on a leaf (PyTorch's requires_grad_()). */
  requiresGrad_(requiresGrad = true): this {
    if (!this.isLeaf && !requiresGrad) {
      throw new ValueError(
        "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().",
      );
    }
    this.requiresGrad = requiresGrad;
    return this;
  }

  /** `backward()`, `backward(gradient)`, `backward(gradient, {retainGraph})`; `backward({retainGraph})` also works. */
  backward(gradient?: Tensor | BackwardOptions | null, opts?: BackwardOptions): void {
    if (gradient !== undefined && gradient !== null && !(gradient instanceof Tensor)) {
      runBackward(this, undefined, gradient);
    } else {
      runBackward(this, gradient ?? undefined, opts);
    }
  }

  // Elementwise arithmetic (tensor or number operands, broadcasting).
  add(other: Operand): Tensor { return ew.add(this, other); }
  sub(other: Operand): Tensor { return ew.sub(this, other); }
  mul(other: Operand): Tensor { return ew.mul(this, other); }
  div(other: Operand): Tensor { return ew.div(this, other); }
  neg(): Tensor { return ew.neg(this); }
  pow(exponent: number): Tensor { return ew.pow(this, exponent); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  relu(): Tensor { return ew.relu(this); }
  /** `clamp({min, max})` (either may be omitted); `clamp(min, max?)` as in PyTorch also works. */
  clamp(opts: { min?: number | null; max?: number | null } | number | null, max?: number | null): Tensor {
    return ew.clamp(this, typeof opts === 'number' || opts === null ? { min: opts, max } : opts);
  }

  // Products.
  mm(other: Tensor): Tensor { return mat.mm(this, other); }
  matmul(other: Tensor): Tensor { return mat.matmul(this, other); }

  // Shape.
  t(): Tensor { return shp.t(this); }
  transpose(dim0: number, dim1: number): Tensor { return shp.transpose(this, dim0, dim1); }
  reshape(shape: readonly number[] | number, ...rest: number[]): Tensor {
    return shp.reshape(this, typeof shape === 'number' ? [shape, ...rest] : shape);
  }
  view(shape: readonly number[] | number, ...rest: number[]): Tensor {
    return shp.reshape(this, typeof shape === 'number' ? [shape, ...rest] : shape);
  }
  clone(): Tensor { return shp.clone(this); }
  /** Shares storage and version counter with this tensor, outside the graph. */
  detach(): Tensor { return shp.detach(this); }

  // Reductions.
  sum(dim?: number | readonly number[] | null, keepdim = false): Tensor { return red.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[] | null, keepdim = false): Tensor { return red.mean(this, dim, keepdim); }
  amax(dim?: number | readonly number[] | null, keepdim = false): Tensor { return red.amax(this, dim, keepdim); }
  /** No dim: the maximum (gradient split among ties). With a dim: values and indices (gradient to the index). */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? red.maxAll(this) : red.maxDim(this, dim, keepdim);
  }

  // Comparisons (0/1 float tensors, never requiring grad) and selection.
  lt(other: Operand): Tensor { return cmp.compare('lt', this, other); }
  gt(other: Operand): Tensor { return cmp.compare('gt', this, other); }
  le(other: Operand): Tensor { return cmp.compare('le', this, other); }
  ge(other: Operand): Tensor { return cmp.compare('ge', this, other); }
  eq(other: Operand): Tensor { return cmp.compare('eq', this, other); }
  /** PyTorch's `self.where(condition, other)`: self where condition is nonzero, else other. */
  where(condition: Tensor, other: Operand): Tensor { return cmp.where(condition, this, other); }
  maskedFill(mask: Tensor, value: number | Tensor): Tensor { return cmp.maskedFill(this, mask, value); }

  // In place (PyTorch naming).
  add_(other: Operand, opts?: { alpha?: number }): this { inp.addInplace(this, other, opts?.alpha ?? 1); return this; }
  sub_(other: Operand, opts?: { alpha?: number }): this { inp.addInplace(this, other, -(opts?.alpha ?? 1)); return this; }
  mul_(other: Operand): this { inp.mulInplace(this, other); return this; }
  zero_(): this { inp.fillInplace(this, 0); return this; }
  fill_(value: number): this { inp.fillInplace(this, value); return this; }
  copy_(src: Tensor | number): this { inp.copyInplace(this, src); return this; }
  maskedFill_(mask: Tensor, value: number | Tensor): this { inp.maskedFillInplace(this, mask, value); return this; }
}

export interface TensorOptions {
  requiresGrad?: boolean;
}

/** A JS array or a typed array row (e.g. a Float32Array per row). */
function isSeq(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

function describe(v: unknown): string {
  return isSeq(v) ? `a sequence of length ${v.length}` : typeof v === 'number' ? 'a number' : v === null ? 'null' : typeof v;
}

function inferShape(data: unknown): number[] {
  const shape: number[] = [];
  let v = data;
  while (isSeq(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

/**
 * Copies nested data of the inferred shape into `out`, checking every level: a ragged row or a non-number
 * leaf is reported with its full index (`path` is a reused stack, so the happy path allocates nothing).
 */
function flatten(data: unknown, shape: number[], d: number, out: Float32Array, pos: { i: number }, path: number[]): void {
  if (d === shape.length) {
    if (typeof data === 'number') out[pos.i++] = data;
    else if (typeof data === 'boolean') out[pos.i++] = data ? 1 : 0;
    else {
      throw new ValueError(
        `tensor(): ragged nested sequence: expected a number at index [${path.join(', ')}] (depth ${d}), got ${describe(data)}`,
      );
    }
    return;
  }
  if (!isSeq(data) || data.length !== shape[d]) {
    const got = isSeq(data) ? `${data.length}` : describe(data);
    throw new ValueError(
      `tensor(): ragged nested sequence: expected sequence of length ${shape[d]} at dim ${d} (got ${got}) at index [${path.join(', ')}]`,
    );
  }
  if (d === shape.length - 1 && data instanceof Float32Array) {
    out.set(data, pos.i);
    pos.i += data.length;
    return;
  }
  for (let i = 0; i < data.length; i++) {
    path.push(i);
    flatten(data[i], shape, d + 1, out, pos, path);
    path.pop();
  }
}

/**
 * A tensor from nested arrays (copied to float32), or from a Float32Array (wrapped without copying: the tensor
 * owns it from then on) with an optional `shape` (default 1-D).
 */
export function tensor(data: NestedInput, opts: TensorOptions & { shape?: number[] } = {}): Tensor {
  let t: Tensor;
  if (data instanceof Float32Array) {
    const shape = opts.shape ? opts.shape.slice() : [data.length];
    if (numelOf(shape) !== data.length) {
      throw new ValueError(`tensor(): shape ${shapeStr(shape)} is invalid for input of size ${data.length}`);
    }
    t = new Tensor(data, shape);
  } else {
    const nested = data;
    const shape = inferShape(nested);
    const flat = new Float32Array(numelOf(shape));
    flatten(nested, shape, 0, flat, { i: 0 }, []);
    if (opts.shape) {
      if (numelOf(opts.shape) !== flat.length) {
        throw new ValueError(`tensor(): shape ${shapeStr(opts.shape)} is invalid for input of size ${flat.length}`);
      }
      t = new Tensor(flat, opts.shape.slice());
    } else {
      t = new Tensor(flat, shape);
    }
  }
  t.requiresGrad = opts.requiresGrad ?? false;
  return t;
}

function checkShape(shape: readonly number[], fn: string): number[] {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new ValueError(`${fn}(): invalid shape ${shapeStr(shape)}: sizes must be non-negative integers`);
  }
  return shape.slice();
}

export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  const s = checkShape(shape, 'full');
  return new Tensor(new Float32Array(numelOf(s)).fill(value), s, opts.requiresGrad ?? false);
}

export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  const s = checkShape(shape, 'zeros');
  return new Tensor(new Float32Array(numelOf(s)), s, opts.requiresGrad ?? false);
}

export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return zeros(t.shape, opts);
}

export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return ones(t.shape, opts);
}

/** PyTorch's arange: [start, end) by step; `arange(n)` is [0, n). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange(): step must be nonzero and finite, got ${step}`);
  if ((end - start) / step < 0) {
    throw new ValueError(`arange(): upper bound and larger bound inconsistent with step sign (start ${start}, end ${end}, step ${step})`);
  }
  const n = Math.ceil((end - start) / step);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return new Tensor(out, [n], opts.requiresGrad ?? false);
}

type GeneratorArg = Parameters<typeof normalFill>[3];

export interface RandomOptions extends TensorOptions {
  generator?: GeneratorArg;
}

/** Standard normal samples, drawn exactly as PyTorch's CPU randn for the same generator state. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const s = checkShape(shape, 'randn');
  const out = new Float32Array(numelOf(s));
  normalFill(out, 0, 1, opts.generator);
  return new Tensor(out, s, opts.requiresGrad ?? false);
}

/** Uniform samples on [0, 1), drawn exactly as PyTorch's CPU rand. */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const s = checkShape(shape, 'rand');
  const out = new Float32Array(numelOf(s));
  uniformFill(out, 0, 1, opts.generator);
  return new Tensor(out, s, opts.requiresGrad ?? false);
}
