/**
 * Elementwise ops: + - * / with broadcasting and python-scalar operands, and the unary functions. Scalars are
 * rounded to float32 first, as PyTorch casts a python number to the tensor's dtype. Backward formulas follow
 * PyTorch's derivatives.yaml, with float32 rounding at the same steps where it is cheap to do so.
 */
import { record } from '../autograd.js';
import { ValueError } from '../errors.js';
import { binaryBroadcast, binaryScalar, clampBackwardKernel, clampKernel, sumToShape, type BinaryOp } from '../kernels/elementwise.js';
import { allocResult } from '../kernels/alloc.js';
import { broadcastShapes, sameShape } from '../shape.js';
import { Tensor, type Operand } from '../tensor.js';

const f32 = Math.fround;

function scalarTensor(v: number): Tensor {
  return new Tensor(Float32Array.of(v), []);
}

function neg32(g: Float32Array): Float32Array {
  const r = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) r[i] = -g[i];
  return r;
}

/** Elementwise g * x over out's shape, where x may broadcast; then summed to `toShape`. */
function mulReduce(
  g: Float32Array,
  outShape: readonly number[],
  x: Tensor,
  toShape: readonly number[],
): Float32Array {
  return sumToShape(binaryBroadcast('mul', g, outShape, x.data, x.shape, outShape), outShape, toShape);
}

/** Tensor (op) number. */
function withScalar(op: BinaryOp, a: Tensor, s: number, scalarLeft: boolean): Tensor {
  const sv = f32(s);
  if (op === 'div' && scalarLeft) return rdivScalar(a, sv);
  const out = new Tensor(allocResult(a.data.length), a.shape.slice());
  binaryScalar(op, a.data, sv, out.data, scalarLeft);
  if (!a.requiresGrad) return out;
  switch (op) {
    case 'add':
      return record(out, 'AddBackward0', [a], (g) => [g]);
    case 'sub':
      return record(out, scalarLeft ? 'RsubBackward1' : 'SubBackward0', [a], (g) => [scalarLeft ? neg32(g) : g]);
    case 'mul':
      return record(out, 'MulBackward0', [a], (g) => {
        const r = new Float32Array(g.length);
        for (let i = 0; i < g.length; i++) r[i] = g[i] * sv;
        return [r];
      });
    case 'div':
      return record(out, 'DivBackward0', [a], (g) => {
        const r = new Float32Array(g.length);
        for (let i = 0; i < g.length; i++) r[i] = g[i] / sv;
        return [r];
      });
  }
}

/** `s / a`, computed as PyTorch does it: reciprocal(a) * s (so the rounding matches). */
function rdivScalar(a: Tensor, s: number): Tensor {
  const n = a.data.length;
  const x = a.data;
  const recip = new Float32Array(n);
  for (let i = 0; i < n; i++) recip[i] = 1 / x[i];
  const out = new Tensor(new Float32Array(n), a.shape.slice());
  for (let i = 0; i < n; i++) out.data[i] = recip[i] * s;
  if (!a.requiresGrad) return out;
  return record(out, 'MulBackward0', [a], (g) => {
    // mul backward (g * s), then reciprocal backward: -g * r * r.
    const r = new Float32Array(n);
    for (let i = 0; i < n; i++) r[i] = -f32(g[i] * s) * f32(recip[i] * recip[i]);
    return [r];
  });
}

function binary(op: BinaryOp, a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') {
    if (typeof b === 'number') {
      const x = f32(a);
      const y = f32(b);
      return scalarTensor(op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y);
    }
    return withScalar(op, b, a, true);
  }
  if (typeof b === 'number') return withScalar(op, a, b, false);
  const outShape = sameShape(a.shape, b.shape) ? a.shape.slice() : broadcastShapes(a.shape, b.shape);
  const out = new Tensor(binaryBroadcast(op, a.data, a.shape, b.data, b.shape, outShape), outShape);
  if (!a.requiresGrad && !b.requiresGrad) return out;
  const aShape = a.shape.slice();
  const bShape = b.shape.slice();
  switch (op) {
    case 'add':
      return record(out, 'AddBackward0', [a, b], (g, needs) => [
        needs[0] ? sumToShape(g, outShape, aShape) : null,
        needs[1] ? sumToShape(g, outShape, bShape) : null,
      ]);
    case 'sub':
      return record(out, 'SubBackward0', [a, b], (g, needs) => [
        needs[0] ? sumToShape(g, outShape, aShape) : null,
        needs[1] ? sumToShape(neg32(g), outShape, bShape) : null,
      ]);
    case 'mul':
      // Like PyTorch, keep only what the needed gradients read: b for a's gradient, a for b's.
      return record(
        out,
        'MulBackward0',
        [a, b],
        (g, needs) => [needs[0] ? mulReduce(g, outShape, b, aShape) : null, needs[1] ? mulReduce(g, outShape, a, bShape) : null],
        [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])],
      );
    case 'div':
      return record(
        out,
        'DivBackward0',
        [a, b],
        (g, needs) => {
          const ga = needs[0] ? sumToShape(binaryBroadcast('div', g, outShape, b.data, bShape, outShape), outShape, aShape) : null;
          let gb: Float32Array | null = null;
          if (needs[1]) {
            // PyTorch: -grad * ((a / b) / b)
            const q = binaryBroadcast('div', a.data, aShape, b.data, bShape, outShape);
            const q2 = binaryBroadcast('div', q, outShape, b.data, bShape, outShape);
            for (let i = 0; i < q2.length; i++) q2[i] = -g[i] * q2[i];
            gb = sumToShape(q2, outShape, bShape);
          }
          return [ga, gb];
        },
        [...(b.requiresGrad ? [a] : []), b],
      );
  }
}

export function add(a: Operand, b: Operand): Tensor {
  return binary('add', a, b);
}
export function sub(a: Operand, b: Operand): Tensor {
  return binary('sub', a, b);
}
export function mul(a: Operand, b: Operand): Tensor {
  return binary('mul', a, b);
}
export function div(a: Operand, b: Operand): Tensor {
  return binary('div', a, b);
}

/** The result of a unary op, whose loop writes every element. */
function unaryOut(a: Tensor): Tensor {
  return new Tensor(allocResult(a.data.length), a.shape.slice());
}

export function neg(a: Tensor): Tensor {
  const out = new Tensor(neg32(a.data), a.shape.slice());
  return record(out, 'NegBackward0', [a], (g) => [neg32(g)]);
}

/** x^e in float32, with PyTorch's special cases (x*x, x*x*x, sqrt, reciprocal) so the rounding matches. */
export function powKernel(x: Float32Array, e: number, out: Float32Array): void {
  const n = x.length;
  if (e === 2) for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
  else if (e === 3) for (let i = 0; i < n; i++) out[i] = f32(x[i] * x[i]) * x[i];
  else if (e === 1) out.set(x);
  else if (e === 0) out.fill(1);
  else if (e === 0.5) for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
  else if (e === -0.5) for (let i = 0; i < n; i++) out[i] = 1 / f32(Math.sqrt(x[i]));
  else if (e === -1) for (let i = 0; i < n; i++) out[i] = 1 / x[i];
  else if (e === -2) for (let i = 0; i < n; i++) out[i] = 1 / f32(x[i] * x[i]);
  else for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], e);
}

export function pow(a: Tensor, exponent: number): Tensor {
  if (typeof exponent !== 'number') throw new ValueError(`pow(): the exponent must be a number, got ${typeof exponent}`);
  const e = f32(exponent);
  const out = unaryOut(a);
  powKernel(a.data, e, out.data);
  return record(
    out,
    'PowBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      if (e === 0) return [r];
      // PyTorch: grad * (exponent * self.pow(exponent - 1))
      powKernel(a.data, f32(e - 1), r);
      for (let i = 0; i < r.length; i++) r[i] = g[i] * f32(e * r[i]);
      return [r];
    },
    [a],
  );
}

export function exp(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = Math.exp(x[i]);
  return record(
    out,
    'ExpBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = g[i] * y[i];
      return [r];
    },
    [out],
  );
}

export function log(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = Math.log(x[i]);
  return record(
    out,
    'LogBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = g[i] / x[i];
      return [r];
    },
    [a],
  );
}

export function sqrt(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = Math.sqrt(x[i]);
  return record(
    out,
    'SqrtBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = g[i] / (2 * y[i]);
      return [r];
    },
    [out],
  );
}

export function tanh(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]);
  return record(
    out,
    'TanhBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = g[i] * f32(1 - f32(y[i] * y[i]));
      return [r];
    },
    [out],
  );
}

export function sigmoid(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
  return record(
    out,
    'SigmoidBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = f32(g[i] * f32(1 - y[i])) * y[i];
      return [r];
    },
    [out],
  );
}

/** max(x, 0); NaN stays NaN. The gradient at exactly 0 is 0 (PyTorch's threshold_backward on the result). */
export function relu(a: Tensor): Tensor {
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  for (let i = 0; i < x.length; i++) y[i] = x[i] <= 0 ? 0 : x[i];
  return record(
    out,
    'ReluBackward0',
    [a],
    (g) => {
      const r = new Float32Array(g.length);
      for (let i = 0; i < r.length; i++) r[i] = y[i] <= 0 ? 0 : g[i];
      return [r];
    },
    [out],
  );
}

/** Clamps into [min, max]; the gradient flows where min <= a <= max (at the bounds too), as in PyTorch. */
export function clamp(a: Tensor, opts: { min?: number | null; max?: number | null }): Tensor {
  const hasMin = opts.min !== undefined && opts.min !== null;
  const hasMax = opts.max !== undefined && opts.max !== null;
  if (!hasMin && !hasMax) throw new ValueError("At least one of 'min' or 'max' must not be None");
  const lo = hasMin ? f32(opts.min as number) : -Infinity;
  const hi = hasMax ? f32(opts.max as number) : Infinity;
  const out = unaryOut(a);
  const x = a.data;
  const y = out.data;
  clampKernel(x, lo, hi, y);
  return record(
    out,
    'ClampBackward1',
    [a],
    (g) => {
      const r = allocResult(g.length);
      clampBackwardKernel(x, g, lo, hi, r);
      return [r];
    },
    [a],
  );
}
