/**
 * PyTorch's CPU random generator, reproduced bit for bit: the same mt19937 stream (seeded the way
 * `at::mt19937` seeds it), the same transformations from raw bits to floats, and the same two normal
 * algorithms. `torch.manual_seed(s); torch.randn(...)` and `manualSeed(s); randn(...)` give the same numbers.
 *
 * Reference (read, not copied): aten/src/ATen/core/MT19937RNGEngine.h, CPUGeneratorImpl.cpp,
 * core/TransformationHelper.h, core/DistributionsHelper.h, native/cpu/DistributionTemplates.h.
 */

import { ValueError } from './errors.js';
import { fmaf } from './fmaf.js';
import { logAvx, sinCosAvx } from './randomMath.js';
import { elementwiseKernels } from './kernels/gemm.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UMASK = 0x80000000;
const LMASK = 0x7fffffff;

/** c10::detail::default_rng_seed_val: what `torch.initial_seed()` reports in a fresh process. */
export const DEFAULT_SEED = 67280421310721n;

const TWO_POW_24_INV = 1 / 16777216; // 2^-24: float32 uniform has 24 random bits (float's digits)
const TWO_POW_32 = 4294967296;
const TWO_POW_53_INV = 1 / 9007199254740992; // 2^-53: double uniform has 53 random bits
const UINT64_MAX = (1n << 64n) - 1n;

/** JSON-serialisable snapshot of a generator: enough to continue the exact stream after a restart. */
export interface GeneratorState {
  /** The seed as a decimal string (it may exceed 2^53). */
  seed: string;
  /** The 624 words of mt19937 state. */
  mt: number[];
  next: number;
  left: number;
  /** Box–Muller's cached second sample of the scalar (double) normal path, as PyTorch's generator keeps it. */
  nextDoubleNormal: number | null;
}

/** Python's `torch.manual_seed` accepts any int in [-2^63, 2^64); negatives wrap to uint64 (two's complement). */
function toUint64(seed: number | bigint): bigint {
  let s: bigint;
  if (typeof seed === 'bigint') {
    s = seed;
  } else {
    if (!Number.isInteger(seed)) throw new ValueError(`manual_seed expected an integer seed, but got ${seed}`);
    s = BigInt(seed);
  }
  if (s < -(1n << 63n) || s > UINT64_MAX) {
    throw new ValueError(`Overflow when unpacking long: seed ${s} is outside [-2^63, 2^64)`);
  }
  return s < 0n ? s + (1n << 64n) : s;
}

export class Generator {
  private readonly mt = new Uint32Array(N);
  private next = 0;
  private left = 1;
  private seed: bigint = DEFAULT_SEED;
  /** Second normal of the last scalar Box–Muller pair (PyTorch: next_double_normal_sample_). */
  private nextDoubleNormal: number | null = null;

  constructor(seed: number | bigint = DEFAULT_SEED) {
    this.manualSeed(seed);
  }

  /**
   * Seeds like at::mt19937(seed): only the low 32 bits enter the state (a seed >= 2^32 is truncated, as
   * PyTorch's init_with_uint32 does), while `initialSeed()` remembers the whole 64-bit value.
   */
  manualSeed(seed: number | bigint): this {
    const s = toUint64(seed);
    this.seed = s;
    this.nextDoubleNormal = null;
    const mt = this.mt;
    mt[0] = Number(s & 0xffffffffn);
    for (let j = 1; j < N; j++) {
      const prev = mt[j - 1]!;
      mt[j] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + j) >>> 0;
    }
    this.left = 1;
    this.next = 0;
    return this;
  }

  initialSeed(): bigint {
    return this.seed;
  }

  private nextState(): void {
    const mt = this.mt;
    this.left = N;
    this.next = 0;
    let k = 0;
    for (; k < N - M; k++) mt[k] = mt[k + M]! ^ twist(mt[k]!, mt[k + 1]!);
    for (; k < N - 1; k++) mt[k] = mt[k + M - N]! ^ twist(mt[k]!, mt[k + 1]!);
    mt[N - 1] = mt[M - 1]! ^ twist(mt[N - 1]!, mt[0]!);
  }

  /** One 32-bit draw (CPUGeneratorImpl::random), as an unsigned integer in [0, 2^32). */
  random(): number {
    if (--this.left === 0) this.nextState();
    let y = this.mt[this.next++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Two draws joined as (first << 32) | second (CPUGeneratorImpl::random64). */
  random64(): bigint {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** uniform_real_distribution<float>(0,1) before scaling: 24 bits times 2^-24, exact in float32. */
  uniformFloat01(): number {
    return (this.random() & 0xffffff) * TWO_POW_24_INV;
  }

  /** uniform_real_distribution<double>(0,1): the low 53 bits of random64() times 2^-53 (exact in double). */
  uniformDouble01(): number {
    const hi = this.random();
    const lo = this.random();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * TWO_POW_53_INV;
  }

  /**
   * at::normal_distribution<double>: Box–Muller on two double uniforms; the sine half is cached in the
   * generator and returned by the next scalar draw (even by a later, separate randn call). Computed in double
   * and rounded to float32 by the caller, so libm differences in the last double bit (V8 vs glibc log1p/sin/cos)
   * and PyTorch's fused `val * std + mean` essentially never show: every fixture value of this path is exact.
   */
  normalDouble(mean: number, std: number): number {
    if (this.nextDoubleNormal !== null) {
      const cached = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return cached * std + mean;
    }
    const u1 = this.uniformDouble01();
    const u2 = this.uniformDouble01();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta) * std + mean;
  }

  getState(): GeneratorState {
    return {
      seed: this.seed.toString(),
      mt: Array.from(this.mt),
      next: this.next,
      left: this.left,
      nextDoubleNormal: this.nextDoubleNormal,
    };
  }

  setState(state: GeneratorState): this {
    const ok =
      state !== null &&
      typeof state === 'object' &&
      Array.isArray(state.mt) &&
      state.mt.length === N &&
      state.mt.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      Number.isInteger(state.left) &&
      state.left > 0 &&
      state.left <= N &&
      Number.isInteger(state.next) &&
      state.next >= 0 &&
      state.next <= N &&
      (state.nextDoubleNormal === null || typeof state.nextDoubleNormal === 'number') &&
      typeof state.seed === 'string' &&
      /^\d+$/.test(state.seed);
    if (!ok) throw new ValueError('Generator.setState: not a valid generator state (expected the value getState() returned)');
    this.mt.set(state.mt);
    this.next = state.next;
    this.left = state.left;
    this.seed = BigInt(state.seed);
    this.nextDoubleNormal = state.nextDoubleNormal;
    return this;
  }
}

function twist(u: number, v: number): number {
  return ((((u & UMASK) | (v & LMASK)) >>> 1) ^ (v & 1 ? MATRIX_A : 0)) >>> 0;
}

/** The process-wide generator `torch.manual_seed` seeds; used whenever no generator is passed. */
export const defaultGenerator = new Generator();

export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}

/**
 * torch.randperm(n, generator=gen) on the CPU (PyTorch 1.13's randperm_cpu): the identity, then for i = 0..n-2
 * swap element i with element i + random() % (n - i), one 32-bit draw per swap. Checked against torch for n up to
 * 100000 (test/fixtures/pytorch/experiments.json has two).
 */
export function randperm(n: number, gen: Generator = defaultGenerator): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new ValueError(`randperm: n must be an integer in [0, 2^31), got ${n}`);
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  for (let i = 0; i < n - 1; i++) {
    const z = gen.random() % (n - i);
    const t = r[i]!;
    r[i] = r[z + i]!;
    r[z + i] = t;
  }
  return r;
}

const f32 = Math.fround;

function checkUniformRange(from: number, to: number): void {
  if (!(from <= to)) {
    throw new ValueError(`uniform_ expects to return a [from, to) range, but found from=${from} > to=${to}`);
  }
  if (!(to - from <= 3.4028234663852886e38)) {
    throw new ValueError(`uniform_ expects to-from <= std::numeric_limits<float>::max(), but found to=${to} and from=${from}`);
  }
}

/**
 * `tensor.uniform_(from, to)` for float32: from/to are cast to float, and each value is
 * `u * (to - from) + from` evaluated in float (u = 24 bits * 2^-24), one draw per element in order.
 */
export function uniformFill(out: Float32Array, from = 0, to = 1, gen: Generator = defaultGenerator): Float32Array {
  const lo = f32(from);
  const hi = f32(to);
  checkUniformRange(lo, hi);
  const range = f32(hi - lo);
  // x * (to - from) + from is one fused multiply-add in PyTorch's AVX2 build (see randomMath.ts).
  for (let i = 0; i < out.length; i++) {
    out[i] = fmaf(gen.uniformFloat01(), range, lo);
  }
  return out;
}

/**
 * `tensor.normal_(mean, std)` / `randn` for float32, PyTorch's CPU normal kernel:
 * - numel >= 16: `normal_fill` — all uniforms first, then Box–Muller in float on blocks of 16 (u1 = 1 - data[j],
 *   u2 = data[j+8]); if numel is not a multiple of 16, the last 16 slots are refilled from fresh uniforms and
 *   transformed again (so the tail overlaps the previous block).
 * - numel < 16: one `normal_distribution<double>` draw per element (double Box–Muller, with the cached sine half).
 */
export function normalFill(out: Float32Array, mean = 0, std = 1, gen: Generator = defaultGenerator): Float32Array {
  if (!(std >= 0)) throw new ValueError(`normal expects std >= 0.0, but found std ${std}`);
  const size = out.length;
  if (size >= 16) {
    const m = f32(mean);
    const s = f32(std);
    for (let i = 0; i < size; i++) out[i] = gen.uniformFloat01();
    // The active kernel path may do the transform (the native addon: the same float32 steps, ~20x faster).
    const ew = elementwiseKernels();
    const blocks = Math.floor(size / 16);
    if (!ew?.normal16?.(out, 0, blocks, m, s)) for (let i = 0; i + 16 <= size; i += 16) normalFill16(out, i, m, s);
    if (size % 16 !== 0) {
      const start = size - 16;
      for (let i = 0; i < 16; i++) out[start + i] = gen.uniformFloat01();
      if (!ew?.normal16?.(out, start, 1, m, s)) normalFill16(out, start, m, s);
    }
  } else {
    for (let i = 0; i < size; i++) out[i] = gen.normalDouble(mean, std);
  }
  return out;
}

/** float32(2π): PyTorch's AVX2 kernel multiplies by `_mm256_set1_ps(2.0f * pi<double>)`. */
const TWO_PI_F = f32(2 * Math.PI);

/**
 * Box–Muller on 16 uniforms in place, as `normal_fill_16_AVX2`: u1 = 1 - data[j], u2 = data[j + 8],
 * radius = sqrt(-2 log u1), theta = float(2π) * u2, then n * std + mean fused. Every step is float32, with
 * avx_mathfun's log and sincos (randomMath.ts), which is what makes the result bit-identical to PyTorch.
 */
export function normalFill16(data: Float32Array, offset: number, mean: number, std: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = f32(Math.sqrt(f32(-2 * logAvx(u1))));
    const theta = f32(TWO_PI_F * u2);
    const [sin, cos] = sinCosAvx(theta);
    data[offset + j] = fmaf(f32(radius * cos), std, mean);
    data[offset + j + 8] = fmaf(f32(radius * sin), std, mean);
  }
}
