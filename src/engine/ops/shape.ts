/** Shape ops. reshape (and t() of a 0-d/1-D tensor) are views sharing storage; transpose materialises a copy. */
import { record } from '../autograd.js';
import { ShapeError } from '../errors.js';
import { transposeCopy } from '../kernels/elementwise.js';
import { normalizeDim, shapeStr } from '../shape.js';
import { Tensor } from '../tensor.js';

/** A tensor sharing `a`'s storage and version counter, with another shape. */
function viewOf(a: Tensor, shape: number[]): Tensor {
  const v = new Tensor(a.data, shape, false, a._version);
  v._base = a._base ?? a;
  v._viewOf = v._base._gradFn;
  return v;
}

/** Resolves a single -1 and checks the element count, with PyTorch's messages. */
export function inferShape(shape: readonly number[], numel: number): number[] {
  let infer = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i];
    if (s === -1) {
      if (infer >= 0) throw new ShapeError('only one dimension can be inferred');
      infer = i;
    } else if (!Number.isInteger(s) || s < 0) {
      throw new ShapeError(`invalid shape dimension ${s} in ${shapeStr(shape)}`);
    } else {
      known *= s;
    }
  }
  const res = shape.slice();
  if (infer >= 0) {
    if (known === 0 || numel % known !== 0) {
      throw new ShapeError(`shape '${shapeStr(shape)}' is invalid for input of size ${numel}`);
    }
    res[infer] = numel / known;
  } else if (known !== numel) {
    throw new ShapeError(`shape '${shapeStr(shape)}' is invalid for input of size ${numel}`);
  }
  return res;
}

export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  const s = inferShape(shape, a.data.length);
  // The gradient is the same buffer read with the input's shape: no copy.
  return record(viewOf(a, s), 'ViewBackward0', [a], (g) => [g]);
}

export function transpose(a: Tensor, dim0: number, dim1: number): Tensor {
  const nd = a.shape.length;
  const d0 = normalizeDim(dim0, nd);
  const d1 = normalizeDim(dim1, nd);
  if (nd < 2 || d0 === d1) return record(viewOf(a, a.shape.slice()), 'TransposeBackward0', [a], (g) => [g]);
  const outShape = a.shape.slice();
  outShape[d0] = a.shape[d1];
  outShape[d1] = a.shape[d0];
  const out = new Tensor(transposeCopy(a.data, a.shape, d0, d1), outShape);
  return record(out, 'TransposeBackward0', [a], (g) => [transposeCopy(g, outShape, d0, d1)]);
}

export function t(a: Tensor): Tensor {
  if (a.shape.length > 2) {
    throw new ShapeError(`t() expects a tensor with <= 2 dimensions, but self is ${a.shape.length}D (shape ${shapeStr(a.shape)})`);
  }
  return a.shape.length < 2
    ? record(viewOf(a, a.shape.slice()), 'TBackward0', [a], (g) => [g])
    : transpose(a, 0, 1);
}

export function clone(a: Tensor): Tensor {
  return record(new Tensor(a.data.slice(), a.shape.slice()), 'CloneBackward0', [a], (g) => [g]);
}

/** Same storage and version counter, no history: in-place changes through it are seen by saved-tensor checks. */
export function detach(a: Tensor): Tensor {
  return new Tensor(a.data, a.shape.slice(), false, a._version);
}

