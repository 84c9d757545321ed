/**
 * The graph and the backward pass. Each differentiable op records a GradNode on its output: the edges to its
 * inputs' nodes (or to the leaf tensors themselves, whose `.grad` receives the gradient) and a backward function
 * on raw Float32Arrays. Gradients are computed with kernels, never as a graph of their own (no double backward).
 */
import { AutogradError, ShapeError } from './errors.js';
import { binarySame } from './kernels/elementwise.js';
import { sameShape, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

/** Where one input's gradient goes: the node that produced it, the leaf itself, or nowhere. */
export type Edge = GradNode | Tensor | null;

/**
 * Computes the gradient of every input from the output's gradient. `needs[i]` is false for inputs that do not
 * require grad: their gradient must not be computed (return null). A backward may return `grad` itself (e.g.
 * add), or the same array for several inputs; the engine copies before it accumulates into such arrays.
 */
export type BackwardFn = (
  grad: Float32Array,
  needs: readonly boolean[],
  into?: readonly (Float32Array | null)[],
) => (Float32Array | null)[];

/**
 * `into[i]`, when not null, is the existing `.grad` storage of input i (a leaf). A backward may add its gradient for
 * input i straight into it, rounded exactly as a separate add would (fl(grad + fl(g))), and return ACCUMULATED for
 * that input: this saves a full-size temporary and a pass over it (the big products' gradients, e.g. Aᵀ·G in mm).
 */
export const ACCUMULATED: Float32Array = new Float32Array(0);

/** The `into` argument of a node's backward: the .grad storage of its leaf inputs (null when none has one). */
function leafGrads(edges: readonly Edge[]): (Float32Array | null)[] | undefined {
  let into: (Float32Array | null)[] | undefined;
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i];
    if (e instanceof Tensor && e.grad !== null && e.grad.data.length === e.data.length) {
      into ??= new Array<Float32Array | null>(edges.length).fill(null);
      into[i] = e.grad.data;
    }
  }
  return into;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function setGradEnabled(enabled: boolean): void {
  gradEnabled = enabled;
}

/** Runs fn with graph recording off (PyTorch's `with torch.no_grad():`). Synchronous functions only. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with graph recording on, e.g. inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

const RELEASED_MESSAGE =
  'Trying to backward through the graph a second time (or directly access saved tensors after they have ' +
  'already been freed). Saved intermediate values of the graph are freed when you call .backward() or ' +
  'autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if ' +
  'you need to access saved tensors after calling backward.';

export class GradNode {
  private fn: BackwardFn | null;
  private saved: Tensor[];
  private savedVersions: number[];
  /** Shape of the output this node produced (the shape of the gradient it receives). */
  readonly outShape: readonly number[];

  constructor(
    /** PyTorch's node name, e.g. `MmBackward0`. */
    readonly name: string,
    readonly edges: Edge[],
    readonly needs: boolean[],
    fn: BackwardFn,
    saved: Tensor[],
    outShape: readonly number[],
  ) {
    this.fn = fn;
    this.saved = saved;
    this.savedVersions = saved.map((t) => t._version.value);
    this.outShape = outShape;
  }

  apply(grad: Float32Array): (Float32Array | null)[] {
    if (this.fn === null) throw new AutogradError(RELEASED_MESSAGE);
    for (let i = 0; i < this.saved.length; i++) {
      const t = this.saved[i];
      if (t._version.value !== this.savedVersions[i]) {
        throw new AutogradError(
          'one of the variables needed for gradient computation has been modified by an inplace operation: ' +
            `[torch.FloatTensor ${shapeStr(t.shape)}]${t.gradFn ? `, which is output 0 of ${t.gradFn.name},` : ''}` +
            ` is at version ${t._version.value}; expected version ${this.savedVersions[i]} instead.`,
        );
      }
    }
    return this.fn(grad, this.needs, leafGrads(this.edges));
  }

  /** Frees what the backward needs (PyTorch frees saved tensors; nodes without any can run again). */
  release(): void {
    if (this.saved.length > 0) {
      this.fn = null;
      this.saved = [];
    }
  }
}

/**
 * A view shares its base's storage, so when an in-place op gives the base a new history, every view made before
 * must lead to that new history too (PyTorch regenerates a view's grad_fn the same way). Our views have the base's
 * exact element order, so the view's gradient is the base's, unchanged.
 */
export function refreshView(t: Tensor): void {
  const base = t._base;
  // A base is never a view itself (views of views point to the root), so these reads do not recurse.
  if (base === null || t._viewOf === base._gradFn) return;
  t._viewOf = base._gradFn;
  if (!base._requiresGrad) return;
  t._requiresGrad = true;
  t._gradFn = new GradNode('ViewBackward0', [base._gradFn ?? base], [true], (g) => [g], [], t.shape.slice());
}

/**
 * Attaches a node to `out` when recording is on and some input requires grad; otherwise leaves `out` as a
 * plain tensor. `saved` lists the tensors the backward reads (checked against in-place changes, freed after
 * backward). Must be called before `out` replaces an input's history (in-place ops pass themselves as input 0).
 */
export function record(
  out: Tensor,
  name: string,
  inputs: Tensor[],
  backward: BackwardFn,
  saved: Tensor[] = [],
): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) any = true;
  if (!any) return out;
  const edges: Edge[] = new Array(inputs.length);
  const needs: boolean[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    needs[i] = t.requiresGrad;
    edges[i] = t.requiresGrad ? (t.gradFn ?? t) : null;
  }
  out.gradFn = new GradNode(name, edges, needs, backward, saved, out.shape.slice());
  out.requiresGrad = true;
  return out;
}

/** True when some input requires grad and recording is on, i.e. when an op must keep what its backward needs. */
export function needsGraph(a: Tensor, b?: Tensor, c?: Tensor): boolean {
  return gradEnabled && (a.requiresGrad || (b?.requiresGrad ?? false) || (c?.requiresGrad ?? false));
}

interface Buffer {
  data: Float32Array;
  /** False when the array may be referenced elsewhere (then it is copied before being added into). */
  owned: boolean;
}

function accumulateLeaf(leaf: Tensor, g: Float32Array, owned: boolean): void {
  if (g.length !== leaf.data.length) {
    throw new ShapeError(
      `internal: gradient of ${g.length} elements for a leaf of shape ${shapeStr(leaf.shape)}`,
    );
  }
  if (leaf.grad === null) {
    leaf.grad = new Tensor(owned ? g : g.slice(), leaf.shape.slice());
  } else {
    if (leaf.grad.data.length !== g.length) {
      throw new ShapeError(
        `the .grad of a leaf of shape ${shapeStr(leaf.shape)} has shape ${shapeStr(leaf.grad.shape)}; cannot accumulate a gradient of ${g.length} elements into it`,
      );
    }
    const d = leaf.grad.data;
    binarySame('add', d, g, d);
  }
}

/** Whether grads[i] is an array nobody else holds: not the incoming gradient and not returned twice. */
function isOwned(grads: (Float32Array | null)[], i: number, incoming: Float32Array): boolean {
  const r = grads[i];
  if (r === incoming) return false;
  for (let j = 0; j < grads.length; j++) if (j !== i && grads[j] === r) return false;
  return true;
}

export interface BackwardOptions {
  retainGraph?: boolean;
}

/** `root.backward(gradient)`: runs every reachable node once, in topological order. */
export function runBackward(root: Tensor, gradient: Tensor | undefined, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new AutogradError('element 0 of tensors does not require grad and does not have a grad_fn');
  }
  let g: Float32Array;
  let gOwned: boolean;
  if (gradient === undefined) {
    if (root.data.length !== 1) {
      throw new AutogradError(
        `grad can be implicitly created only for scalar outputs (the output has shape ${shapeStr(root.shape)})`,
      );
    }
    g = Float32Array.of(1);
    gOwned = true;
  } else {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new ShapeError(
        `Mismatch in shape: grad_output[0] has a shape of ${shapeStr(gradient.shape)} and output[0] has a shape of ${shapeStr(root.shape)}.`,
      );
    }
    g = gradient.data;
    gOwned = false;
  }
  const rootNode = root.gradFn;
  if (rootNode === null) {
    accumulateLeaf(root, g, gOwned);
    return;
  }
  const retain = opts.retainGraph ?? false;

  // Count, for every reachable node, how many edges lead into it.
  const deps = new Map<GradNode, number>([[rootNode, 0]]);
  const stack: GradNode[] = [rootNode];
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (const e of node.edges) {
      if (!(e instanceof GradNode)) continue;
      const d = deps.get(e);
      if (d === undefined) {
        deps.set(e, 1);
        stack.push(e);
      } else {
        deps.set(e, d + 1);
      }
    }
  }

  const buffers = new Map<GradNode, Buffer>([[rootNode, { data: g, owned: gOwned }]]);
  const ready: GradNode[] = [rootNode];
  while (ready.length > 0) {
    const node = ready.pop()!;
    const buf = buffers.get(node);
    buffers.delete(node);
    // A node that received no gradient at all (every path to it carried none) is skipped, not run on zeros.
    const grads = buf ? node.apply(buf.data) : null;
    for (let i = 0; i < node.edges.length; i++) {
      const e = node.edges[i];
      if (e === null) continue;
      const r = grads ? grads[i] : null;
      if (e instanceof GradNode) {
        if (r) {
          const owned = isOwned(grads!, i, buf!.data);
          const prev = buffers.get(e);
          if (!prev) {
            buffers.set(e, { data: r, owned });
          } else if (prev.owned) {
            binarySame('add', prev.data, r, prev.data);
          } else {
            const d = new Float32Array(prev.data.length);
            binarySame('add', prev.data, r, d);
            buffers.set(e, { data: d, owned: true });
          }
        }
        const d = deps.get(e)! - 1;
        deps.set(e, d);
        if (d === 0) ready.push(e);
      } else if (r && r !== ACCUMULATED) {
        accumulateLeaf(e, r, isOwned(grads!, i, buf!.data));
      }
    }
    if (!retain) node.release();
  }
}
