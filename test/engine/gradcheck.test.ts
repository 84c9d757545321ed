/**
 * Finite-difference gradient checks over random shapes (fast-check), broadcasting included, for every
 * differentiable op. The analytic gradient comes from the engine (float32); the numerical one from a separate
 * float64 re-implementation of each forward in this file (its own index arithmetic, no engine code), by central
 * differences of L = Σ out · w for a random w (w is the grad_out given to backward).
 *
 * Tolerance: central differences in float64 with h = 1e-5 have truncation error ~h²·|f'''| ≈ 1e-10 and
 * round-off ~1e-16·|L|/h ≈ 1e-11·|L|, so the numerical side is exact to ~1e-9. The engine's float32 gradient
 * carries ~1e-7 relative rounding per op, growing with the length of its sums (≤ 64 terms here), i.e. ≤ ~1e-5.
 * We accept |analytic − numeric| ≤ 1e-4 · (|numeric| + max|numeric|): 10x above float32 noise, while a wrong
 * formula, a missing broadcast sum or a misrouted index is off by O(1).
 * Inputs avoid kinks by construction (relu/clamp at least 1e-2 from the bounds, max/amax without ties, log/sqrt
 * /pow on positive inputs, divisors away from 0), since h is far smaller than those margins.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { add, div, linear, mseLoss, mul, sub, tensor, where, Tensor, type Reduction } from '../../src/engine/index.js';

const H = 1e-5;
const TOL = 1e-4;
const RUNS = 40;

// ---------- float64 reference machinery (independent of the engine) ----------

const numel = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);

/** Offset into an operand of shape `s` for the multi-index `idx` of the (broadcast) output shape. */
function bOff(s: readonly number[], idx: readonly number[]): number {
  let off = 0;
  let stride = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    const j = idx[idx.length - s.length + i];
    off += (s[i] === 1 ? 0 : j) * stride;
    stride *= s[i];
  }
  return off;
}

function unravel(i: number, s: readonly number[]): number[] {
  const idx = new Array<number>(s.length);
  for (let d = s.length - 1; d >= 0; d--) {
    idx[d] = i % s[d];
    i = Math.floor(i / s[d]);
  }
  return idx;
}

function bShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

function map2(a: Float64Array, as: number[], b: Float64Array, bs: number[], f: (x: number, y: number) => number): Float64Array {
  const os = bShape(as, bs);
  const out = new Float64Array(numel(os));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, os);
    out[i] = f(a[bOff(as, idx)], b[bOff(bs, idx)]);
  }
  return out;
}

/** Reduce over `dims` with `f` (sum or max); returns the keepdim-shaped result. */
function reduce(x: Float64Array, s: number[], dims: number[], init: number, f: (acc: number, v: number) => number): Float64Array {
  const ks = s.map((d, i) => (dims.includes(i) ? 1 : d));
  const out = new Float64Array(numel(ks)).fill(init);
  for (let i = 0; i < x.length; i++) {
    const o = bOff(ks, unravel(i, s));
    out[o] = f(out[o], x[i]);
  }
  return out;
}

/** Batched matmul of promoted shapes [...ba, M, K] x [...bb, K, N] in float64. */
function matmul64(a: Float64Array, as: number[], b: Float64Array, bs: number[]): Float64Array {
  const A = as.length === 1 ? [1, as[0]] : as;
  const B = bs.length === 1 ? [bs[0], 1] : bs;
  const M = A[A.length - 2];
  const K = A[A.length - 1];
  const N = B[B.length - 1];
  const batch = bShape(A.slice(0, -2), B.slice(0, -2));
  const nb = numel(batch);
  const out = new Float64Array(nb * M * N);
  for (let p = 0; p < nb; p++) {
    const bi = unravel(p, batch);
    const ao = bOff(A.slice(0, -2), bi) * M * K;
    const bo = bOff(B.slice(0, -2), bi) * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + i * K + k] * b[bo + k * N + j];
        out[p * M * N + i * N + j] = s;
      }
  }
  return out;
}

// ---------- the harness ----------

interface Input {
  shape: number[];
  data: Float32Array;
}

interface Check {
  inputs: Input[];
  engine: (t: Tensor[]) => Tensor;
  ref: (x: Float64Array[]) => Float64Array;
  seed: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function gradcheck({ inputs, engine, ref, seed }: Check): void {
  const ts = inputs.map((i) => tensor(i.data.slice(), { shape: i.shape, requiresGrad: true }));
  const out = engine(ts);
  const rnd = lcg(seed ^ 0x9e3779b9);
  const w = new Float64Array(out.numel()).map(() => Math.fround(rnd() * 2 - 1));
  const xs = inputs.map((i) => Float64Array.from(i.data));
  const base = ref(xs);
  if (base.length !== out.numel()) throw new Error(`reference has ${base.length} elements, engine output shape [${out.shape}]`);
  for (let i = 0; i < base.length; i++) {
    const err = Math.abs(out.data[i] - base[i]);
    if (!(err <= 1e-5 * (Math.abs(base[i]) + 1))) throw new Error(`forward mismatch at ${i}: engine ${out.data[i]}, float64 ${base[i]}`);
  }
  out.backward(tensor(Float32Array.from(w), { shape: out.shape.slice() }));
  const L = (): number => {
    const o = ref(xs);
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * w[i];
    return s;
  };
  xs.forEach((x, k) => {
    const num = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + H;
      const lp = L();
      x[i] = v - H;
      const lm = L();
      x[i] = v;
      num[i] = (lp - lm) / (2 * H);
    }
    const g = ts[k].grad;
    if (g === null) throw new Error(`input ${k} got no gradient`);
    let scale = 0;
    for (const v of num) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < x.length; i++) {
      const err = Math.abs(g.data[i] - num[i]);
      if (!(err <= TOL * (Math.abs(num[i]) + scale) + 1e-7)) {
        throw new Error(`input ${k} [${inputs[k].shape}] element ${i}: analytic ${g.data[i]}, numeric ${num[i]}`);
      }
    }
  });
}

// ---------- generators ----------

const dim = fc.integer({ min: 1, max: 4 });
const shapeArb = (minRank = 0, maxRank = 3) => fc.array(dim, { minLength: minRank, maxLength: maxRank });
/** A shape that broadcasts to `out`: some leading dims dropped, some dims set to 1. */
const broadcastOf = (out: number[]) =>
  fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(
    ([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
  );
/** Two shapes broadcasting together; half the time one of them is the full output shape. */
const pairArb = shapeArb().chain((out) =>
  fc.tuple(broadcastOf(out), broadcastOf(out), fc.boolean()).map(([a, b, full]) => (full ? [a, out] : [a, b])),
);
const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

type Domain = (u: number) => number;
const normal: Domain = (u) => u * 4 - 2;
const positive: Domain = (u) => 0.5 + 2 * u;
const awayFrom0: Domain = (u) => (u < 0.5 ? -0.5 - 3 * u : 0.5 + 3 * (u - 0.5));
/** No value within 0.01 of any kink. */
const avoiding = (kinks: number[]): Domain => (u) => {
  let v = u * 4 - 2;
  for (const k of kinks) if (Math.abs(v - k) < 0.01) v = k + 0.02;
  return v;
};

function makeInput(shape: number[], seed: number, domain: Domain): Input {
  const r = lcg(seed);
  return { shape, data: new Float32Array(numel(shape)).map(() => domain(r())) };
}

/** Values made distinct (no ties for max), by adding a tiny unique ramp. */
function distinct(inp: Input): Input {
  const d = inp.data.map((v, i) => v + i * 1e-3);
  return { shape: inp.shape, data: d };
}

function prop<T>(arb: fc.Arbitrary<T>, body: (v: T) => void): void {
  fc.assert(fc.property(arb, body), { numRuns: RUNS });
}

const f64Unary = (f: (x: number) => number) => (x: Float64Array[]) => x[0].map(f);

const binary = {
  add: { fn: add, f: (x: number, y: number) => x + y, denom: normal },
  sub: { fn: sub, f: (x: number, y: number) => x - y, denom: normal },
  mul: { fn: mul, f: (x: number, y: number) => x * y, denom: normal },
  div: { fn: div, f: (x: number, y: number) => x / y, denom: awayFrom0 },
};

describe('gradcheck: + - * / with broadcasting and python scalars', () => {
  for (const [name, op] of Object.entries(binary)) {
    it(`${name}: tensor (op) tensor, broadcasting`, () => {
      prop(fc.tuple(pairArb, seedArb), ([[sa, sb], seed]) => {
        const a = makeInput(sa, seed, normal);
        const b = makeInput(sb, seed + 1, op.denom);
        gradcheck({ inputs: [a, b], seed, engine: ([x, y]) => op.fn(x, y), ref: ([x, y]) => map2(x, sa, y, sb, op.f) });
      });
    });
    it(`${name}: scalar on either side (no gradient for the scalar)`, () => {
      prop(fc.tuple(shapeArb(), seedArb, fc.boolean()), ([s, seed, left]) => {
        const c = 1.75;
        const a = makeInput(s, seed, left ? op.denom : normal);
        gradcheck({
          inputs: [a],
          seed,
          engine: ([x]) => (left ? op.fn(c, x) : op.fn(x, c)),
          ref: ([x]) => x.map((v) => (left ? op.f(c, v) : op.f(v, c))),
        });
      });
    });
  }
});

describe('gradcheck: unary ops', () => {
  const unary: [string, (t: Tensor) => Tensor, (x: number) => number, Domain][] = [
    ['neg', (t) => t.neg(), (x) => -x, normal],
    ['exp', (t) => t.exp(), Math.exp, normal],
    ['log', (t) => t.log(), Math.log, positive],
    ['sqrt', (t) => t.sqrt(), Math.sqrt, positive],
    ['tanh', (t) => t.tanh(), Math.tanh, normal],
    ['sigmoid', (t) => t.sigmoid(), (x) => 1 / (1 + Math.exp(-x)), normal],
    ['relu', (t) => t.relu(), (x) => Math.max(x, 0), avoiding([0])],
    ['clamp(min=0)', (t) => t.clamp({ min: 0 }), (x) => Math.max(x, 0), avoiding([0])],
    ['clamp(min=-0.5, max=0.5)', (t) => t.clamp({ min: -0.5, max: 0.5 }), (x) => Math.min(Math.max(x, -0.5), 0.5), avoiding([-0.5, 0.5])],
    ['clamp(max=0.25)', (t) => t.clamp({ max: 0.25 }), (x) => Math.min(x, 0.25), avoiding([0.25])],
    ['pow(2)', (t) => t.pow(2), (x) => x * x, normal],
    ['pow(3)', (t) => t.pow(3), (x) => x * x * x, normal],
    ['pow(0.5)', (t) => t.pow(0.5), Math.sqrt, positive],
    ['pow(-1)', (t) => t.pow(-1), (x) => 1 / x, positive],
    ['pow(1.7)', (t) => t.pow(1.7), (x) => Math.pow(x, Math.fround(1.7)), positive],
    ['pow(0)', (t) => t.pow(0), () => 1, normal],
    ['clone', (t) => t.clone(), (x) => x, normal],
  ];
  for (const [name, e, f, domain] of unary) {
    it(name, () => {
      prop(fc.tuple(shapeArb(), seedArb), ([s, seed]) => {
        gradcheck({ inputs: [makeInput(s, seed, domain)], seed, engine: ([x]) => e(x), ref: f64Unary(f) });
      });
    });
  }
});

describe('gradcheck: products', () => {
  it('mm', () => {
    prop(fc.tuple(dim, dim, dim, seedArb), ([M, K, N, seed]) => {
      const a = makeInput([M, K], seed, normal);
      const b = makeInput([K, N], seed + 1, normal);
      gradcheck({ inputs: [a, b], seed, engine: ([x, y]) => x.mm(y), ref: ([x, y]) => matmul64(x, [M, K], y, [K, N]) });
    });
  });

  it('matmul: 1-D, 2-D and batched operands with broadcast batch dims', () => {
    const arb = fc
      .tuple(dim, dim, dim, shapeArb(0, 2), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
      .chain(([M, K, N, batch, ra, rb]) =>
        fc.tuple(broadcastOf(batch), broadcastOf(batch)).map(([ba, bb]) => {
          const as = ra === 1 ? [K] : ra === 2 ? [M, K] : [...ba, M, K];
          const bs = rb === 1 ? [K] : rb === 2 ? [K, N] : [...bb, K, N];
          return [as, bs] as const;
        }),
      );
    prop(fc.tuple(arb, seedArb), ([[as, bs], seed]) => {
      const a = makeInput(as, seed, normal);
      const b = makeInput(bs, seed + 1, normal);
      gradcheck({ inputs: [a, b], seed, engine: ([x, y]) => x.matmul(y), ref: ([x, y]) => matmul64(x, as, y, bs) });
    });
  });

  it('linear, with and without bias, batched input', () => {
    prop(fc.tuple(shapeArb(0, 2), dim, dim, fc.boolean(), seedArb), ([lead, K, N, withBias, seed]) => {
      const xs = [...lead, K];
      const inputs = [makeInput(xs, seed, normal), makeInput([N, K], seed + 1, normal)];
      if (withBias) inputs.push(makeInput([N], seed + 2, normal));
      gradcheck({
        inputs,
        seed,
        engine: ([x, w, b]) => linear(x, w, b),
        ref: ([x, w, b]) => {
          const rows = numel(lead);
          const out = new Float64Array(rows * N);
          for (let r = 0; r < rows; r++)
            for (let j = 0; j < N; j++) {
              let s = b ? b[j] : 0;
              for (let k = 0; k < K; k++) s += x[r * K + k] * w[j * K + k];
              out[r * N + j] = s;
            }
          return out;
        },
      });
    });
  });
});

/** Dims to reduce: undefined (all), one dim (maybe negative), or a list. */
const dimsArb = (rank: number) =>
  rank === 0
    ? fc.constant(undefined)
    : fc.oneof(
        fc.constant(undefined),
        fc.integer({ min: -rank, max: rank - 1 }),
        fc.subarray(Array.from({ length: rank }, (_, i) => i), { minLength: 1 }),
      );
const wrap = (d: number | number[] | undefined, rank: number): number[] =>
  d === undefined ? Array.from({ length: rank }, (_, i) => i) : (typeof d === 'number' ? [d] : d).map((x) => (x < 0 ? x + rank : x));

describe('gradcheck: reductions', () => {
  const reductionArb = shapeArb().chain((s) => fc.tuple(fc.constant(s), dimsArb(s.length), fc.boolean(), seedArb));
  it('sum(dim?, keepdim?)', () => {
    prop(reductionArb, ([s, d, keep, seed]) => {
      gradcheck({ inputs: [makeInput(s, seed, normal)], seed, engine: ([x]) => x.sum(d, keep), ref: ([x]) => reduce(x, s, wrap(d, s.length), 0, (p, v) => p + v) });
    });
  });
  it('mean(dim?, keepdim?)', () => {
    prop(reductionArb, ([s, d, keep, seed]) => {
      const dims = wrap(d, s.length);
      const count = numel(dims.map((i) => s[i]));
      gradcheck({ inputs: [makeInput(s, seed, normal)], seed, engine: ([x]) => x.mean(d, keep), ref: ([x]) => reduce(x, s, dims, 0, (p, v) => p + v).map((v) => v / count) });
    });
  });
  it('amax(dim?, keepdim?) without ties', () => {
    prop(reductionArb, ([s, d, keep, seed]) => {
      gradcheck({ inputs: [distinct(makeInput(s, seed, normal))], seed, engine: ([x]) => x.amax(d, keep), ref: ([x]) => reduce(x, s, wrap(d, s.length), -Infinity, Math.max) });
    });
  });
  it('max() and max(dim).values without ties', () => {
    const arb = shapeArb(1).chain((s) => fc.tuple(fc.constant(s), fc.option(fc.integer({ min: -s.length, max: s.length - 1 })), fc.boolean(), seedArb));
    prop(arb, ([s, d, keep, seed]) => {
      gradcheck({
        inputs: [distinct(makeInput(s, seed, normal))],
        seed,
        engine: ([x]) => (d === null ? x.max() : x.max(d, keep).values),
        ref: ([x]) => reduce(x, s, d === null ? wrap(undefined, s.length) : wrap(d, s.length), -Infinity, Math.max),
      });
    });
  });
});

describe('gradcheck: shape ops', () => {
  it('transpose(d0, d1) and t()', () => {
    const arb = shapeArb(1).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 }), fc.integer({ min: -s.length, max: s.length - 1 }), seedArb));
    prop(arb, ([s, d0, d1, seed]) => {
      const a = (d0 + s.length) % s.length;
      const b = (d1 + s.length) % s.length;
      const os = s.slice();
      os[a] = s[b];
      os[b] = s[a];
      const ref = ([x]: Float64Array[]) => {
        const out = new Float64Array(x.length);
        for (let i = 0; i < out.length; i++) {
          const idx = unravel(i, os);
          [idx[a], idx[b]] = [idx[b], idx[a]];
          out[i] = x[bOff(s, idx)];
        }
        return out;
      };
      gradcheck({ inputs: [makeInput(s, seed, normal)], seed, engine: ([x]) => (s.length <= 2 && a !== b ? x.t() : x.transpose(d0, d1)), ref });
    });
  });
  it('reshape (with -1), followed by a mul so the gradient is not all ones', () => {
    prop(fc.tuple(shapeArb(1), seedArb), ([s, seed]) => {
      const n = numel(s);
      gradcheck({ inputs: [makeInput(s, seed, normal)], seed, engine: ([x]) => x.reshape([-1, 1]).pow(2), ref: ([x]) => x.map((v) => v * v).slice(0, n) });
    });
  });
});

describe('gradcheck: selection and losses', () => {
  it('where(cond, a, b) with all three broadcasting', () => {
    const arb = shapeArb().chain((out) => fc.tuple(broadcastOf(out), broadcastOf(out), broadcastOf(out), seedArb));
    prop(arb, ([sc, sa, sb, seed]) => {
      const r = lcg(seed + 7);
      const cond = tensor(new Float32Array(numel(sc)).map(() => (r() < 0.5 ? 1 : 0)), { shape: sc });
      gradcheck({
        inputs: [makeInput(sa, seed, normal), makeInput(sb, seed + 1, normal)],
        seed,
        engine: ([a, b]) => where(cond, a, b),
        ref: ([a, b]) => {
          const os = bShape(bShape(sc, sa), sb);
          const out = new Float64Array(numel(os));
          for (let i = 0; i < out.length; i++) {
            const idx = unravel(i, os);
            out[i] = cond.data[bOff(sc, idx)] !== 0 ? a[bOff(sa, idx)] : b[bOff(sb, idx)];
          }
          return out;
        },
      });
    });
  });
  it('maskedFill with a broadcast mask', () => {
    const arb = shapeArb().chain((s) => fc.tuple(fc.constant(s), broadcastOf(s), seedArb));
    prop(arb, ([s, sm, seed]) => {
      const r = lcg(seed + 3);
      const mask = tensor(new Float32Array(numel(sm)).map(() => (r() < 0.5 ? 1 : 0)), { shape: sm });
      gradcheck({
        inputs: [makeInput(s, seed, normal)],
        seed,
        engine: ([x]) => x.maskedFill(mask, -3),
        ref: ([x]) => x.map((v, i) => (mask.data[bOff(sm, unravel(i, s))] !== 0 ? -3 : v)),
      });
    });
  });
  it('mseLoss: mean, sum, none', () => {
    prop(fc.tuple(shapeArb(), fc.constantFrom<Reduction>('mean', 'sum', 'none'), seedArb), ([s, red, seed]) => {
      gradcheck({
        inputs: [makeInput(s, seed, normal), makeInput(s, seed + 1, normal)],
        seed,
        engine: ([a, b]) => mseLoss(a, b, red),
        ref: ([a, b]) => {
          const sq = a.map((v, i) => (v - b[i]) ** 2);
          if (red === 'none') return sq;
          const tot = sq.reduce((p, v) => p + v, 0);
          return Float64Array.of(red === 'sum' ? tot : tot / sq.length);
        },
      });
    });
  });
});

describe('gradcheck: recorded in-place ops on non-leaves', () => {
  it('h = a * 1; h.mul_(b); h.add_(b, alpha 0.5); h.sub_(a)', () => {
    prop(fc.tuple(shapeArb(), seedArb), ([s, seed]) => {
      gradcheck({
        inputs: [makeInput(s, seed, normal), makeInput(s, seed + 1, normal)],
        seed,
        engine: ([a, b]) => {
          const h = a.mul(1);
          h.mul_(b);
          h.add_(b, { alpha: 0.5 });
          h.sub_(a);
          return h;
        },
        ref: ([a, b]) => a.map((v, i) => v * b[i] + 0.5 * b[i] - v),
      });
    });
  });
  it('the same through a view: h = a * 1; v = h.reshape(-1); v.mul_(b); v.maskedFill_(mask, 0); v.add_(b); return h', () => {
    prop(fc.tuple(shapeArb(), seedArb), ([s, seed]) => {
      const n = numel(s);
      const r = lcg(seed + 5);
      const mask = new Float32Array(n).map(() => (r() < 0.3 ? 1 : 0));
      gradcheck({
        inputs: [makeInput(s, seed, normal), makeInput([n], seed + 1, normal)],
        seed,
        engine: ([a, b]) => {
          const h = a.mul(1);
          const v = h.reshape([-1]);
          v.mul_(b);
          v.maskedFill_(tensor(mask), 0);
          v.add_(b);
          return h;
        },
        ref: ([a, b]) => a.map((v, i) => (mask[i] ? 0 : v * b[i]) + b[i]),
      });
    });
  });
});
