/**
 * The optional native accelerator (native/, src/runtime/native-kernels.ts) against the plain-SIMD WebAssembly kernel:
 * same bits on every shape, transpose, offset and mode, for each of its ISAs (AVX-512, AVX2, portable C), and so the
 * tutorial's 500 losses equal PyTorch's to the bit on the native path too.
 *
 * Skipped, with the load failure as the reason, where the addon was not built (no C compiler). CI exports
 * GRADLOOM_EXPECT_NATIVE=1 (.ci/run), and then a missing addon FAILS here instead.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATIVE } from '../helpers/kernels.js';
import { activeKernel, gemmKernel, useKernel, type GemmArgs } from '../../src/engine/kernels/gemm.js';
import { ShapeError } from '../../src/engine/errors.js';
import { noGrad } from '../../src/engine/index.js';
import { normalFill16 } from '../../src/engine/random.js';
import { nativeAddonPath, type NativeIsa, type NativeKernels } from '../../src/runtime/native-kernels.js';
import { loadFixture } from '../helpers/fixtures.js';
import { prepareKernels } from '../../workers/kernels.js';
import { rng } from '../helpers/rng.js';
import { firstDifference } from '../helpers/bits.js';

const reason = NATIVE.ok ? '' : NATIVE.reason;

describe('native addon availability', () => {
  it(`loads, or CI did not ask for it (GRADLOOM_EXPECT_NATIVE=${process.env.GRADLOOM_EXPECT_NATIVE ?? 'unset'})`, () => {
    if (process.env.GRADLOOM_EXPECT_NATIVE === '1') expect(reason, 'the native addon did not load').toBe('');
    else expect(typeof reason).toBe('string');
  });

  /** In a fresh process: what registerNativeKernels() reports and which kernels the engine then has. */
  function probe(env: Record<string, string>): { ok: boolean; reason?: string; available: string[]; product: number[][] } {
    const script =
      "Promise.all([import('./src/runtime/native-kernels.ts'), import('./src/engine/index.ts')]).then(([n, m]) => {" +
      ' const r = n.registerNativeKernels(); const a = m.tensor([[1, 2], [3, 4]]);' +
      ' console.log(JSON.stringify({ ok: r.ok, reason: r.ok ? undefined : r.reason, available: m.kernels.available(), product: a.mm(a).toArray() })); })';
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, GRADLOOM_NATIVE: '', GRADLOOM_NATIVE_ADDON: '', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return JSON.parse(out.trim().split('\n').pop()!);
  }

  it('a missing, broken or disabled addon is reported with its reason, and the engine keeps its WebAssembly paths', () => {
    const missing = probe({ GRADLOOM_NATIVE_ADDON: '/nonexistent/gradloom_native.node' });
    expect(missing.ok).toBe(false);
    expect(missing.reason).toMatch(/gradloom_native.node is missing \(run npm run build:native/);
    expect(missing.available).toEqual(['relaxed', 'simd', 'js'].filter((k) => missing.available.includes(k)));
    expect(missing.available).toContain('simd');
    expect(missing.product).toEqual([[7, 10], [15, 22]]);
    const dir = mkdtempSync(path.join(tmpdir(), 'gradloom-native-'));
    try {
      const garbage = path.join(dir, 'gradloom_native.node');
      writeFileSync(garbage, 'not a shared object');
      const broken = probe({ GRADLOOM_NATIVE_ADDON: garbage });
      expect(broken.ok).toBe(false);
      expect(broken.reason).toMatch(/failed to load/);
      expect(broken.available).not.toContain('native');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A module that loads but is not the addon (a JSON file is require()-able).
    const wrong = probe({ GRADLOOM_NATIVE_ADDON: new URL('../../package.json', import.meta.url).pathname });
    expect(wrong).toMatchObject({ ok: false, reason: expect.stringMatching(/failed to load: it does not export sgemm/) });
    expect(probe({ GRADLOOM_NATIVE: '0' })).toMatchObject({ ok: false, reason: 'disabled by GRADLOOM_NATIVE=0' });
  });
});


const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -3e38];

function randomArray(n: number, next: () => number, specials: boolean): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = specials && next() < 0.02 ? SPECIALS[Math.floor(next() * SPECIALS.length)] : (next() * 2 - 1) * 4;
  }
  return a;
}

const MODES = ['overwrite', 'accumulate', 'accumulateRounded'] as const;
type Mode = (typeof MODES)[number];

interface Case {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  mode: Mode;
  offsets: [number, number, number];
  specials: boolean;
}

function build(c: Case, next: () => number): GemmArgs {
  const [ao, bo, co] = c.offsets;
  return {
    transA: c.transA,
    transB: c.transB,
    M: c.M,
    N: c.N,
    K: c.K,
    A: randomArray(ao + c.M * c.K + 2, next, c.specials),
    aOffset: ao,
    B: randomArray(bo + c.K * c.N + 2, next, c.specials),
    bOffset: bo,
    C: randomArray(co + c.M * c.N + 2, next, c.specials),
    cOffset: co,
    accumulate: c.mode === 'accumulate',
    accumulateRounded: c.mode === 'accumulateRounded',
  };
}

/** Runs native and simd on copies of the same operands; returns a description of the first differing bit, if any. */
function compare(native: (a: GemmArgs) => void, c: Case, seed: number): string | null {
  const args = build(c, rng(seed));
  const mine = { ...args, C: args.C.slice() };
  const theirs = { ...args, C: args.C.slice() };
  native(mine);
  gemmKernel('simd')!(theirs);
  const d = firstDifference(mine.C, theirs.C);
  return d && `${JSON.stringify(c)}: ${d}`;
}

const DIMS = [0, 1, 7, 33, 64, 100, 1000];

function randomCases(seed: number, count: number): Case[] {
  const next = rng(seed);
  const pick = () => DIMS[Math.floor(next() * DIMS.length)];
  const out: Case[] = [];
  while (out.length < count) {
    const M = pick();
    const N = pick();
    const K = pick();
    if (M * N * K > 2e7) continue; // keeps the scalar ISA's share of the run short
    out.push({
      transA: next() < 0.5,
      transB: next() < 0.5,
      M,
      N,
      K,
      mode: MODES[Math.floor(next() * 3)],
      offsets: [0, 0, 0].map(() => (next() < 0.4 ? Math.floor(next() * 5) : 0)) as [number, number, number],
      specials: next() < 0.3,
    });
  }
  return out;
}

/** Shapes that take each blocking path: tutorial products, K blocks (256), packed B (transB, N >= 256), tails. */
function namedCases(): Case[] {
  const out: Case[] = [];
  const shapes: [number, number, number][] = [
    [64, 100, 1000], // x.mm(w1)
    [1000, 100, 64], // xᵀ·g (transA) into w1.grad
    [64, 10, 100],
    [100, 10, 64],
    [64, 100, 10],
    [9, 300, 600], // packed B, several K blocks
    [17, 257, 513],
    [8, 48, 256],
    [8, 49, 257],
    [1, 1, 1],
    [3, 5, 0], // K = 0
    [0, 5, 3],
    [5, 0, 3],
  ];
  for (const [M, N, K] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const mode of MODES) out.push({ transA, transB, M, N, K, mode, offsets: [1, 2, 3], specials: false });
  return out;
}

describe.skipIf(!NATIVE.ok)(`native kernels${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const nk = (NATIVE.ok ? NATIVE.kernels : null) as NativeKernels;
  const isas: NativeIsa[] = NATIVE.ok ? nk.isas() : [];
  let defaultIsa: NativeIsa;
  beforeAll(() => {
    defaultIsa = nk.isa();
  });
  afterAll(() => nk.useIsa(defaultIsa));

  it('reports the ISA it chose (the fastest the CPU supports)', () => {
    expect(['avx512', 'avx2', 'scalar']).toContain(nk.isa());
    expect(nk.isa()).toBe(isas[0]);
    expect(isas).toContain('scalar');
    console.log(`native sgemm ISA: ${nk.isa()} (supported: ${isas.join(', ')})`);
  });

  for (const isa of ['avx512', 'avx2', 'scalar'] as NativeIsa[]) {
    describe.skipIf(NATIVE.ok && !isas.includes(isa))(`ISA ${isa}${NATIVE.ok && !isas.includes(isa) ? ' (skipped: not supported by this CPU)' : ''}`, () => {
      beforeAll(() => nk.useIsa(isa));
      afterAll(() => nk.useIsa(defaultIsa));

      it('equals the simd kernel bit for bit: tutorial shapes, K blocks, packed B, tails, 0-sized, all transposes and modes', () => {
        const cases = namedCases();
        const bad = cases.map((c, i) => compare(nk.nativeGemm, c, 100 + i)).filter((d) => d !== null);
        expect(bad.slice(0, 3)).toEqual([]);
      });

      it('equals the simd kernel bit for bit on 150 random shapes (M, N, K in 0, 1, 7, 33, 64, 100, 1000; offsets; NaN/Inf/-0)', () => {
        const cases = randomCases(isa.length * 7919, 150);
        const bad = cases.map((c, i) => compare(nk.nativeGemm, c, 1000 + i)).filter((d) => d !== null);
        expect(bad.slice(0, 3)).toEqual([]);
      });

      it(`Aᵀ·B with a ReLU-like operand (a third or more exact zeros) ${isa === 'scalar' ? 'runs dense' : 'skips its zeros'} with simd's bits: ±0, NaN kept, an Inf in the other operand, every mode`, () => {
        const next = rng(4242);
        const sparse = (n: number, zeros: number, nan: boolean) => {
          const a = new Float32Array(n);
          for (let i = 0; i < n; i++) {
            const u = next();
            a[i] = u < zeros ? (next() < 0.5 ? -0 : 0) : nan && u > 0.995 ? NaN : (next() * 2 - 1) * 4;
          }
          return a;
        };
        const dense = (n: number, inf: boolean) => {
          const a = randomArray(n, next, false);
          if (inf) a[Math.floor(next() * n)] = -Infinity;
          // Subnormal and huge factors: products that underflow to ±0 or overflow to ±Inf.
          for (let i = 0; i < n; i += 97) a[i] = i % 2 ? 1e-40 : -3e38;
          return a;
        };
        const shapes: [number, number, number][] = [[1000, 100, 64], [100, 1000, 64], [37, 211, 99], [300, 9, 33], [8, 8, 1100], [97, 96, 8]];
        const before = nk.zeroSkips();
        let expectedSkips = 0;
        const bad: string[] = [];
        let cases = 0;
        for (const [M, N, K] of shapes) {
          for (const mode of MODES) {
            for (const where of ['A', 'B'] as const) {
              for (const variant of ['plain', 'nan', 'inf'] as const) {
                // The smaller operand is the one that may be skipped; the zeros go there.
                const sparseIsB = K * N <= K * M;
                const zerosIn = sparseIsB ? 'B' : 'A';
                if (where !== zerosIn) continue;
                const zeros = 0.5 + 0.3 * next();
                const A = where === 'A' ? sparse(M * K, zeros, variant === 'nan') : dense(M * K, variant === 'inf');
                const B = where === 'B' ? sparse(K * N, zeros, variant === 'nan') : dense(K * N, variant === 'inf');
                const C = randomArray(M * N, next, true);
                for (let i = 0; i < C.length; i += 13) C[i] = -0;
                const args: GemmArgs = { transA: true, transB: false, M, N, K, A, B, C, accumulate: mode === 'accumulate', accumulateRounded: mode === 'accumulateRounded' };
                const mine = { ...args, C: C.slice() };
                const theirs = { ...args, C: C.slice() };
                nk.nativeGemm(mine);
                gemmKernel('simd')!(theirs);
                const d = firstDifference(mine.C, theirs.C);
                if (d) bad.push(`${M}x${N}x${K} ${mode} zeros in ${where} (${variant}): ${d}`);
                if (isa !== 'scalar' && mode !== 'accumulate' && variant !== 'inf') expectedSkips++;
                cases++;
              }
            }
          }
        }
        // A long product (a full batch of more than 2^14 rows) runs dense: its scratch would grow with K.
        {
          const M = 8, N = 4, K = 20000;
          const args: GemmArgs = { transA: true, transB: false, M, N, K, A: dense(M * K, false), B: sparse(K * N, 0.6, false), C: new Float32Array(M * N) };
          const mine = { ...args, C: args.C.slice() };
          const theirs = { ...args, C: args.C.slice() };
          nk.nativeGemm(mine);
          gemmKernel('simd')!(theirs);
          const d = firstDifference(mine.C, theirs.C);
          if (d) bad.push(`${M}x${N}x${K} (long): ${d}`);
        }
        expect(bad.slice(0, 3)).toEqual([]);
        // Declined where it must be: accumulate (C may start at -0), a non-finite factor opposite a zero, a long K.
        expect(nk.zeroSkips() - before).toBe(expectedSkips);
        expect(cases).toBe(shapes.length * MODES.length * 3);
      });

      it('keeps -0 and NaN/Inf semantics: +0 start, 0*Inf is NaN, -0 + -0 stays -0 when accumulating', () => {
        const A = Float32Array.of(-0, 0, Infinity, 1);
        const B = Float32Array.of(1, 1);
        // M=2 (rows [-0, 0] and [Inf, 1]), K=2, N=1.
        const C = Float32Array.of(-0, 5);
        nk.nativeGemm({ transA: false, transB: false, M: 2, N: 1, K: 2, A, B, C });
        expect(Object.is(C[0], 0)).toBe(true); // +0 + (-0*1) + (0*1) = +0
        expect(C[1]).toBe(Infinity);
        const Z = Float32Array.of(-0);
        nk.nativeGemm({ transA: false, transB: false, M: 1, N: 1, K: 1, A: Float32Array.of(-0), B: Float32Array.of(1), C: Z, accumulate: true });
        expect(Object.is(Z[0], -0)).toBe(true);
        const N0 = Float32Array.of(1);
        nk.nativeGemm({ transA: false, transB: false, M: 1, N: 1, K: 1, A: Float32Array.of(0), B: Float32Array.of(Infinity), C: N0 });
        expect(N0[0]).toBeNaN();
      });
    });
  }

  it('the engine-facing kernel (tiny products go to the simd kernel, the rest to the addon) gives simd\'s bits', () => {
    expect(gemmKernel('native')).toBe(nk.gemm);
    for (const [M, N, K] of [[15, 1, 1], [16, 16, 15], [16, 16, 16], [64, 100, 1000]]) {
      const c: Case = { transA: false, transB: true, M, N, K, mode: 'accumulateRounded', offsets: [1, 0, 2], specials: true };
      expect(compare(nk.gemm, c, M * 7 + K)).toBeNull();
    }
  });

  it('writes nothing outside the C window and reads operands that overlap C as they were before the call', () => {
    const next = rng(5);
    const buf = randomArray(64, next, false);
    const args: GemmArgs = { transA: false, transB: false, M: 3, N: 3, K: 3, A: buf, aOffset: 2, B: buf, bOffset: 20, C: buf, cOffset: 7 };
    const simd = { ...args, A: buf.slice(), B: buf.slice(), C: buf.slice() };
    simd.A = simd.C;
    simd.B = simd.C;
    gemmKernel('simd')!(simd);
    nk.nativeGemm(args);
    expect(firstDifference(buf, simd.C)).toBeNull();
  });

  it('throws ShapeError (the engine\'s shape error) on a C, A or B too short for the shape, and writes nothing', () => {
    const A = new Float32Array(6);
    const B = new Float32Array(6);
    const C = new Float32Array(4).fill(7);
    const base: GemmArgs = { transA: false, transB: false, M: 2, N: 2, K: 3, A, B, C };
    const g = nk.nativeGemm;
    expect(() => g({ ...base, cOffset: 1 })).toThrow(ShapeError);
    expect(() => g({ ...base, cOffset: 1 })).toThrow(/C \[2x2\] at offset 1 needs 5 elements, but its length is 4/);
    expect(() => g({ ...base, K: 4 })).toThrow(/A \[2x4\] at offset 0 needs 8 elements/);
    expect(() => g({ ...base, bOffset: 1, transB: true })).toThrow(/B \[2x3, transposed\]/);
    expect(() => g({ ...base, M: -1 })).toThrow(ShapeError);
    expect(() => g({ ...base, N: 1.5 })).toThrow(/N must be a non-negative integer, got 1.5/);
    expect(() => g({ ...base, A: new Float64Array(6) as unknown as Float32Array })).toThrow(TypeError);
    expect(Array.from(C)).toEqual([7, 7, 7, 7]);
  });

  it('checks in C too: the raw addon throws TypeError/RangeError on bad arguments instead of touching memory', () => {
    const addon = createRequire(import.meta.url)(nativeAddonPath());
    const f = new Float32Array(4);
    expect(() => addon.sgemm(f, 0, f, 0, new Float32Array(3), 0, 2, 2, 2, false, false, 0)).toThrow(RangeError);
    expect(() => addon.sgemm(f, 0, f, 0, f, 0, 2, 2, 2, false, false, 3)).toThrow(/mode must be 0/);
    expect(() => addon.sgemm(f, 0, new Int32Array(4), 0, f, 0, 2, 2, 2, false, false, 0)).toThrow(TypeError);
    expect(() => addon.sgemm(f, 0, f, 0, f, 0, 2, 2, -2, false, false, 0)).toThrow(RangeError);
    expect(() => addon.sgemm(f, 0, f, 0, f, 0, 2, 2, 2, 'no', false, 0)).toThrow(/transA must be a boolean/);
    expect(() => addon.sgemm(f, 0, f, 0, f, 5, 0, 0, 0, false, false, 0)).toThrow(RangeError);
    expect(() => addon.sgemm(f)).toThrow(/expected 12 arguments/);
    expect(() => addon.binary(0, f, new Float32Array(3), f)).toThrow(/b has length 3, expected 4/);
    expect(() => addon.useIsa('sse9')).toThrow(/not supported/);
  });

  it('fuzz: random arguments to the raw addon either throw TypeError/RangeError or compute simd\'s bits, never touching memory outside C', () => {
    const addon = createRequire(import.meta.url)(nativeAddonPath());
    let accepted = 0;
    // Mostly near-valid calls (sizes that fit, or miss by one element), with odd numbers and wrong types mixed in.
    const small = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 12 }) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, NaN, Infinity, 2 ** 31, 2 ** 53, 2 ** 60) },
    );
    const kind = fc.oneof({ weight: 12, arbitrary: fc.constant('f32') }, { weight: 1, arbitrary: fc.constantFrom('f64', 'i32', 'plain', 'null') });
    const slack = fc.constantFrom(-1, 0, 0, 0, 0, 2);
    const make = (k: string, n: number): unknown =>
      k === 'f32' ? new Float32Array(n).map((_, i) => Math.sin(i + n)) : k === 'f64' ? new Float64Array(n) : k === 'i32' ? new Int32Array(n) : k === 'plain' ? Array(n).fill(1) : null;
    const len = (off: number, rows: number, cols: number, extra: number) =>
      Number.isInteger(off) && Number.isInteger(rows * cols) && off + rows * cols < 1e6 ? Math.max(0, off + rows * cols + extra) : 8;
    fc.assert(
      fc.property(
        fc.tuple(kind, kind, slack, slack, slack),
        fc.tuple(small, small, small, small, small, small),
        fc.tuple(fc.boolean(), fc.boolean(), fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2) }, { weight: 1, arbitrary: fc.constantFrom(3, -1, 1.5) })),
        ([ka, kb, sa, sb, sc], [ao, bo, co, M, N, K], [ta, tb, mode]) => {
          const A = make(ka, len(ao, M, K, sa));
          const B = make(kb, len(bo, K, N, sb));
          const nc = len(co, M, N, sc);
          // C lives inside a larger buffer with guard zones on both sides.
          const guard = 16;
          const buf = new Float32Array(nc + 2 * guard).fill(12345);
          const C = buf.subarray(guard, guard + nc);
          const before = buf.slice();
          let threw: unknown = null;
          try {
            addon.sgemm(A, ao, B, bo, C, co, M, N, K, ta, tb, mode);
          } catch (e) {
            threw = e;
          }
          for (let i = 0; i < guard; i++) {
            expect(buf[i]).toBe(12345);
            expect(buf[buf.length - 1 - i]).toBe(12345);
          }
          if (threw !== null) {
            expect(threw instanceof TypeError || threw instanceof RangeError, String(threw)).toBe(true);
            expect(firstDifference(buf, before)).toBeNull();
            return;
          }
          // Accepted: then it was a valid call, and its result is simd's.
          const want = before.slice().subarray(guard, guard + nc);
          gemmKernel('simd')!({
            transA: ta, transB: tb, M, N, K, A: A as Float32Array, aOffset: ao, B: B as Float32Array, bOffset: bo, C: want, cOffset: co,
            accumulate: mode === 1, accumulateRounded: mode === 2,
          });
          expect(firstDifference(C, want)).toBeNull();
          accepted++;
        },
      ),
      { numRuns: 3000, seed: 4242 },
    );
    // Enough of the random calls were valid for the comparison branch to mean something.
    console.log(`fuzz: ${accepted} of 3000 calls accepted`);
    expect(accepted).toBeGreaterThan(150);
  });

  it("Box-Muller (normal16) equals the engine's JavaScript normalFill16 bit for bit for every uniform the generator can draw", () => {
    // Uniforms are k * 2^-24, k < 2^24: every k is a u1 once (lanes 0-7) and a u2 once (lanes 8-15, another k).
    const CHUNK = 1 << 20;
    for (const [mean, std] of [[0, 1], [Math.fround(0.5), Math.fround(2.5)]] as const) {
      for (let k0 = 0; k0 < 1 << 24; k0 += mean === 0 ? CHUNK : 8 * CHUNK) {
        const data = new Float32Array(2 * CHUNK);
        for (let i = 0; i < CHUNK; i++) {
          const block = i >> 3;
          const lane = i & 7;
          data[16 * block + lane] = (k0 + i) * 2 ** -24;
          data[16 * block + 8 + lane] = (((k0 + i) * 7919) % (1 << 24)) * 2 ** -24;
        }
        const js = data.slice();
        for (let o = 0; o < js.length; o += 16) normalFill16(js, o, mean, std);
        expect(nk.elementwise.normal16!(data, 0, data.length / 16, mean, std)).toBe(true);
        expect(firstDifference(data, js), `uniforms from ${k0}, mean ${mean}, std ${std}`).toBeNull();
      }
    }
    // Bounds are checked: nothing outside the array is read or written.
    expect(nk.elementwise.normal16!(new Float32Array(32), 17, 1, 0, 1)).toBe(false);
    const addon = createRequire(import.meta.url)(nativeAddonPath()) as { normal16(d: Float32Array, o: number, b: number, m: number, s: number): void };
    expect(() => addon.normal16(new Float32Array(16), 1, 1, 0, 1)).toThrow(RangeError);
    expect(() => addon.normal16(new Float32Array(16), 0, 2, 0, 1)).toThrow(/do not fit in 16 elements/);
  });

  it('clamp and its gradient follow the JS loops for any double bounds (not float32 values, ±0, NaN, beyond float range)', () => {
    const bounds = [0, -0, 0.1, -0.1, 1 / 3, Math.fround(0.1), 2.5, 1e-45, 1e-39, 3.5e38, -3.5e38, Infinity, -Infinity, NaN];
    // Every bound's float32 neighbours: the values where comparing in float32 instead of double would go wrong.
    const xs: number[] = [NaN, 0, -0, 1, -1, Infinity, -Infinity, 7e37];
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (const b of bounds) {
      f[0] = b;
      const bits = u[0];
      for (const d of [-2, -1, 0, 1, 2]) {
        u[0] = bits + d;
        xs.push(f[0]);
      }
    }
    const x = Float32Array.from(xs);
    const g = Float32Array.from(xs, (_, i) => i + 0.5);
    for (const lo of bounds) {
      for (const hi of bounds) {
        const want = new Float32Array(x.length);
        const gw = new Float32Array(x.length);
        for (let i = 0; i < x.length; i++) {
          want[i] = hi === Infinity ? Math.max(x[i], lo) : Math.min(Math.max(x[i], lo), hi);
          gw[i] = x[i] >= lo && x[i] <= hi ? g[i] : 0;
        }
        const out = new Float32Array(x.length);
        nk.elementwise.clamp(x, out, lo, hi);
        expect(firstDifference(out, want), `clamp [${lo}, ${hi}]`).toBeNull();
        const gout = new Float32Array(x.length);
        nk.elementwise.clampBackward(x, g, gout, lo, hi);
        expect(firstDifference(gout, gw), `clampBackward [${lo}, ${hi}]`).toBeNull();
      }
    }
  });

  it('each worker thread loads its own instance: pinning an ISA in one thread does not change another', async () => {
    const file = nativeAddonPath();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.file);
      addon.useIsa(workerData.isa);
      const A = new Float32Array(64 * 100).map((_, i) => Math.sin(i));
      const B = new Float32Array(100 * 30).map((_, i) => Math.cos(i));
      const C = new Float32Array(64 * 30);
      for (let r = 0; r < 50; r++) addon.sgemm(A, 0, B, 0, C, 0, 64, 30, 100, false, false, 0);
      parentPort.postMessage({ isa: addon.isa(), C });`;
    const run = (isa: NativeIsa) =>
      new Promise<{ isa: string; C: Float32Array }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { file, isa } });
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    nk.useIsa(defaultIsa);
    const results = await Promise.all(isas.map((isa) => run(isa)));
    expect(results.map((r) => r.isa)).toEqual(isas);
    expect(nk.isa()).toBe(defaultIsa);
    const A = new Float32Array(64 * 100).map((_, i) => Math.sin(i));
    const B = new Float32Array(100 * 30).map((_, i) => Math.cos(i));
    const C = new Float32Array(64 * 30);
    gemmKernel('simd')!({ transA: false, transB: false, M: 64, N: 30, K: 100, A, B, C });
    for (const r of results) expect(firstDifference(r.C, C), r.isa).toBeNull();
  });

  describe('tutorial on the native path', () => {
    let previous: ReturnType<typeof activeKernel>;
    beforeAll(() => {
      previous = activeKernel();
      useKernel('native');
    });
    afterAll(() => {
      nk.useIsa(defaultIsa);
      if (previous !== 'custom') useKernel(previous);
    });

    const fx = loadFixture('two_layer_autograd');
    const expected: number[] = fx.json.losses;

    for (const isa of isas) {
      it(`${isa}: all 500 losses, the step-0 gradients and the final weights equal PyTorch's bits (autograd)`, () => {
        nk.useIsa(isa);
        const x = fx.get('x');
        const y = fx.get('y');
        const w1 = fx.get('w1').requiresGrad_();
        const w2 = fx.get('w2').requiresGrad_();
        const losses: number[] = [];
        let g0: [Float32Array, Float32Array] | null = null;
        for (let t = 0; t < 500; t++) {
          const loss = x.mm(w1).clamp({ min: 0 }).mm(w2).sub(y).pow(2).sum();
          losses.push(loss.item());
          loss.backward();
          g0 ??= [w1.grad!.data.slice(), w2.grad!.data.slice()];
          noGrad(() => {
            w1.sub_(w1.grad!.mul(1e-6));
            w2.sub_(w2.grad!.mul(1e-6));
            w1.grad!.zero_();
            w2.grad!.zero_();
          });
        }
        expect(losses).toEqual(expected);
        expect(firstDifference(g0![0], fx.get('grad0.w1').data)).toBeNull();
        expect(firstDifference(g0![1], fx.get('grad0.w2').data)).toBeNull();
        expect(firstDifference(w1.data, fx.get('final.w1').data)).toBeNull();
        expect(firstDifference(w2.data, fx.get('final.w2').data)).toBeNull();
      });
    }
  });

  it("the pool workers' default kernel 'auto' picks native when it loads (both give the same bits as 'simd')", async () => {
    const previous = activeKernel();
    await prepareKernels('auto');
    expect(activeKernel()).toBe('native');
    if (previous !== 'custom') useKernel(previous);
  });
});
