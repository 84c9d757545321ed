/**
 * The WebAssembly paths' zero-skipping Aᵀ·B (src/engine/kernels/wasm-zero-skip.ts, scripts/zero-skip-wat.ts) against
 * the same path's dense kernel and against the arithmetic contract of native/src/gemm.h written out in JavaScript:
 * same bits (any NaN equals any NaN), and the zeroSkipsOf counter proves which products skipped and which declined.
 */
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../helpers/kernels.js';
import { gemmKernel, zeroSkipsOf, type GemmArgs, type KernelName } from '../../src/engine/kernels/gemm.js';
import { sgemmJs } from '../../src/engine/kernels/js-gemm.js';
import { rng } from '../helpers/rng.js';
import { firstDifference } from '../helpers/bits.js';

const MODES = ['overwrite', 'accumulate', 'accumulateRounded'] as const;
type Mode = (typeof MODES)[number];
const SHAPES: [number, number, number][] = [[1000, 100, 64], [100, 1000, 64], [37, 211, 99], [300, 9, 33], [8, 8, 1100], [97, 96, 8]];
const WASM = KERNELS.filter((k): k is KernelName => k === 'simd' || k === 'relaxed');

/**
 * gemm.h's contract for C = Aᵀ·B: from +0 (or C when accumulating), k = 0..K-1, acc = round32(acc + round32(a*b));
 * accumulate-rounded adds the finished product to C. (sgemmJs is not this: `C[i] += a*b` rounds the exact product
 * and the sum once, in float64, before the float32 store.)
 */
function contract(args: GemmArgs): Float32Array {
  const { M, N, K, A, B, C } = args;
  const ao = args.aOffset ?? 0;
  const bo = args.bOffset ?? 0;
  const co = args.cOffset ?? 0;
  const out = C.slice();
  const f = Math.fround;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = args.accumulate ? C[co + i * N + j] : 0;
      for (let k = 0; k < K; k++) acc = f(acc + f(A[ao + k * M + i] * B[bo + k * N + j]));
      out[co + i * N + j] = !args.accumulate && args.accumulateRounded ? f(C[co + i * N + j] + acc) : acc;
    }
  }
  return out;
}

/** The dense kernel on the same product: A transposed explicitly, so that transA is false and nothing is skipped. */
function dense(kernel: (a: GemmArgs) => void, args: GemmArgs): Float32Array {
  const { M, K, A } = args;
  const ao = args.aOffset ?? 0;
  const At = new Float32Array(M * K);
  for (let k = 0; k < K; k++) for (let i = 0; i < M; i++) At[i * K + k] = A[ao + k * M + i];
  const C = args.C.slice();
  kernel({ ...args, transA: false, A: At, aOffset: 0, C });
  return C;
}

function operands(M: number, N: number, K: number, mode: Mode, variant: 'plain' | 'nan' | 'inf', next: () => number, offsets: boolean): GemmArgs {
  // The smaller operand is the one that may be skipped; the zeros go there.
  const sparseIsB = N <= M;
  const sparse = (n: number) => {
    const zeros = 0.5 + 0.3 * next();
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = next();
      a[i] = u < zeros ? (next() < 0.5 ? -0 : 0) : variant === 'nan' && u > 0.995 ? NaN : (next() * 2 - 1) * 4;
    }
    return a;
  };
  const denseOperand = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (next() * 2 - 1) * 4;
    if (variant === 'inf') a[Math.floor(next() * n)] = -Infinity;
    // Subnormal and huge factors: products that underflow to ±0 or overflow to ±Inf (kept: the factors are not 0).
    for (let i = 0; i < n; i += 97) a[i] = i % 2 ? 1e-40 : -3e38;
    return a;
  };
  const [ao, bo, co] = offsets ? [3, 1, 2] : [0, 0, 0];
  const pad = (off: number, a: Float32Array) => {
    const out = new Float32Array(off + a.length + 2).fill(7);
    out.set(a, off);
    return out;
  };
  const A = pad(ao, sparseIsB ? denseOperand(K * M) : sparse(K * M));
  const B = pad(bo, sparseIsB ? sparse(K * N) : denseOperand(K * N));
  const C = new Float32Array(co + M * N + 2);
  for (let i = 0; i < C.length; i++) C[i] = i % 13 === 0 ? -0 : (next() * 2 - 1) * 4;
  return {
    transA: true, transB: false, M, N, K, A, aOffset: ao, B, bOffset: bo, C, cOffset: co,
    accumulate: mode === 'accumulate', accumulateRounded: mode === 'accumulateRounded',
  };
}

describe('WebAssembly Aᵀ·B skipping exact zeros', () => {
  it('has a WebAssembly path to test', () => {
    expect(WASM).toContain('simd');
  });

  for (const name of WASM) {
    it(`${name}: Aᵀ·B with a ReLU-like operand (a third or more exact zeros) skips its zeros with the dense kernel's bits${name === 'simd' ? ' and the contract\'s' : ''}: ±0, NaN kept, an Inf in the other operand declines, every mode`, () => {
      const kernel = gemmKernel(name)!;
      const next = rng(777);
      const bad: string[] = [];
      let expectedSkips = 0;
      let cases = 0;
      const before = zeroSkipsOf(name)!;
      for (const [M, N, K] of SHAPES) {
        for (const mode of MODES) {
          for (const variant of ['plain', 'nan', 'inf'] as const) {
            const args = operands(M, N, K, mode, variant, next, cases % 2 === 1);
            const label = `${M}x${N}x${K} ${mode} (${variant})`;
            const want = dense(kernel, args);
            const skips = zeroSkipsOf(name)!;
            const got = { ...args, C: args.C.slice() };
            kernel(got);
            const took = zeroSkipsOf(name)! - skips;
            // Declined where it must be: accumulate (C may start at -0), a non-finite factor opposite a zero.
            const must = mode !== 'accumulate' && variant !== 'inf' ? 1 : 0;
            if (took !== must) bad.push(`${label}: took the zero-skip path ${took} times, expected ${must}`);
            expectedSkips += must;
            const d = firstDifference(got.C, want);
            if (d) bad.push(`${label} vs dense ${name}: ${d}`);
            // Relaxed SIMD may fuse the multiply-add (its dense kernel does too): only plain SIMD has the contract's bits.
            if (name === 'simd') {
              const c = firstDifference(got.C, contract(args));
              if (c) bad.push(`${label} vs the contract: ${c}`);
            }
            cases++;
          }
        }
      }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(zeroSkipsOf(name)! - before).toBe(expectedSkips);
      expect(cases).toBe(SHAPES.length * MODES.length * 3);
    });

    it(`${name}: declines where skipping cannot pay or is not Aᵀ·B, and the product is still right`, () => {
      const kernel = gemmKernel(name)!;
      const next = rng(99);
      const check = (args: GemmArgs, label: string) => {
        const skips = zeroSkipsOf(name)!;
        const want = dense(kernel, args);
        const got = { ...args, C: args.C.slice() };
        kernel(got);
        expect(zeroSkipsOf(name)! - skips, label).toBe(0);
        expect(firstDifference(got.C, want), label).toBeNull();
      };
      // Fewer than a third zeros (a quarter).
      const quarter = operands(1000, 100, 64, 'overwrite', 'plain', next, false);
      for (let i = 0; i < quarter.B.length; i++) quarter.B[i] = i % 4 === 0 ? 0 : (next() * 2 - 1) * 4;
      check(quarter, 'a quarter zeros');
      // Under 2^16 multiply-adds.
      check(operands(63, 32, 32, 'accumulateRounded', 'plain', next, false), '63x32x32');
      // A long product (a full batch of more than 2^14 rows): its scratch would grow with K, so it runs dense.
      check(operands(8, 4, 20000, 'overwrite', 'plain', next, false), '8x4x20000');
      // Not Aᵀ·B: A·B with the same sparse operand runs dense.
      const ab = operands(200, 100, 64, 'overwrite', 'plain', next, false);
      const skips = zeroSkipsOf(name)!;
      const C = ab.C.slice();
      kernel({ ...ab, transA: false, A: ab.A, C });
      expect(zeroSkipsOf(name)! - skips).toBe(0);
    });
  }

  it('sgemmJs (the JS fallback) agrees with the zero-skip path within float32 rounding, not to the bit', () => {
    // The tutorial's xᵀ·g: x [64×1000], g [64×100] with half its entries +0.
    const next = rng(5);
    const M = 1000, N = 100, K = 64;
    const A = Float32Array.from({ length: K * M }, () => next() * 2 - 1);
    const B = Float32Array.from({ length: K * N }, () => (next() < 0.5 ? 0 : next() * 2 - 1));
    const C = Float32Array.from({ length: M * N }, () => next() * 2 - 1);
    const args: GemmArgs = { transA: true, transB: false, M, N, K, A, B, C, accumulateRounded: true };
    const got = { ...args, C: C.slice() };
    const skips = zeroSkipsOf('simd')!;
    gemmKernel('simd')!(got);
    expect(zeroSkipsOf('simd')! - skips).toBe(1);
    expect(firstDifference(got.C, contract(args))).toBeNull();
    const js = { ...args, C: C.slice() };
    sgemmJs(js);
    let maxErr = 0;
    for (let i = 0; i < M * N; i++) maxErr = Math.max(maxErr, Math.abs(got.C[i] - js.C[i]));
    // |terms| < 1 and |C| < 1: K + 2 roundings of at most 2^-24 times a sum below K + 1.
    expect(maxErr).toBeLessThan((K + 2) * (K + 1) * 2 ** -24);
  });
});
