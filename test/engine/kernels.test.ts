import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNELS, forEachKernel } from '../helpers/kernels.js';
import {
  activeKernel,
  availableKernels,
  elementwiseKernelsOf,
  gemmKernel,
  sgemm,
  useKernel,
  type GemmArgs,
  type KernelName,
} from '../../src/engine/kernels/gemm.js';
import { generateGemmModuleSource } from '../../scripts/gemm-wat.js';
import { rng } from '../helpers/rng.js';


function randomArray(n: number, next: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
  return a;
}

/**
 * C in float64, plus for each element the sum of |a·b| terms: float32 accumulation of K products in any order is within
 * about K·2^-24 of that sum (the classic γ_K bound), which is the tolerance used below.
 */
function reference(args: GemmArgs): { value: Float64Array; scale: Float64Array } {
  const { transA, transB, M, N, K, A, B, C } = args;
  const ao = args.aOffset ?? 0;
  const bo = args.bOffset ?? 0;
  const co = args.cOffset ?? 0;
  const value = new Float64Array(M * N);
  const scale = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = args.accumulate ? C[co + i * N + j] : 0;
      let m = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const a = transA ? A[ao + k * M + i] : A[ao + i * K + k];
        const b = transB ? B[bo + j * K + k] : B[bo + k * N + j];
        s += a * b;
        m += Math.abs(a * b);
      }
      value[i * N + j] = s;
      scale[i * N + j] = m;
    }
  }
  return { value, scale };
}

function checkProduct(kernel: (a: GemmArgs) => void, args: GemmArgs): void {
  const expected = reference(args);
  const co = args.cOffset ?? 0;
  const before = args.C.slice();
  kernel(args);
  const { M, N, K } = args;
  for (let e = 0; e < M * N; e++) {
    const got = args.C[co + e];
    const tol = (K + 2) * 2 ** -23 * expected.scale[e] + 1e-30;
    if (!(Math.abs(got - expected.value[e]) <= tol)) {
      throw new Error(
        `C[${e}] = ${got}, expected ${expected.value[e]} ± ${tol} (M=${M} N=${N} K=${K} transA=${args.transA} ` +
          `transB=${args.transB} accumulate=${!!args.accumulate})`,
      );
    }
  }
  // Nothing outside the C window is written.
  for (let e = 0; e < co; e++) expect(args.C[e]).toBe(before[e]);
  for (let e = co + M * N; e < args.C.length; e++) expect(args.C[e]).toBe(before[e]);
}

const EDGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 33];

function randomCase(next: () => number, sizes: number[]): GemmArgs {
  const pick = () => sizes[Math.floor(next() * sizes.length)];
  const M = pick();
  const N = pick();
  const K = pick();
  const aOffset = next() < 0.3 ? Math.floor(next() * 5) : 0;
  const bOffset = next() < 0.3 ? Math.floor(next() * 5) : 0;
  const cOffset = next() < 0.3 ? Math.floor(next() * 5) : 0;
  return {
    transA: next() < 0.5,
    transB: next() < 0.5,
    M,
    N,
    K,
    A: randomArray(aOffset + M * K + 3, next),
    aOffset,
    B: randomArray(bOffset + K * N + 3, next),
    bOffset,
    C: randomArray(cOffset + M * N + 3, next),
    cOffset,
    accumulate: next() < 0.5,
  };
}

describe('kernel selection', () => {
  it('always has the JS path, and WebAssembly SIMD paths where the runtime validates them', () => {
    const names = availableKernels();
    expect(names).toContain('js');
    expect(names[names.length - 1]).toBe('js');
    // Node 20.19+ has fixed-width SIMD; relaxed SIMD after the helper enabled its V8 flag.
    expect(names).toContain('simd');
    expect(names).toContain('relaxed');
  });

  it('switches the sgemm binding and reports the active path', () => {
    const previous = activeKernel();
    for (const name of KERNELS) {
      useKernel(name);
      expect(activeKernel()).toBe(name);
      expect(sgemm).toBe(gemmKernel(name));
    }
    if (previous !== 'custom') useKernel(previous);
  });

  it('falls back to the pure JS path where WebAssembly is missing (node --jitless has none)', () => {
    const script =
      "import('./src/engine/index.ts').then((m) => { const a = m.tensor([[1, 2], [3, 4]]); " +
      'console.log(JSON.stringify({ available: m.kernels.available(), active: m.kernels.activeKernel(), ' +
      'product: a.mm(a).toArray(), hasWasm: typeof WebAssembly })); })';
    const out = execFileSync(process.execPath, ['--jitless', '--import', 'tsx', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({
      available: ['js'],
      active: 'js',
      product: [
        [7, 10],
        [15, 22],
      ],
      hasWasm: 'undefined',
    });
  });

  it('refuses an unknown path by name', () => {
    expect(() => useKernel('avx512' as KernelName)).toThrow(/kernel 'avx512' is not available.*js/);
  });
});

describe('generated WebAssembly module', () => {
  it('is exactly what `npm run build:wasm` generates (not stale)', async () => {
    const committed = readFileSync(new URL('../../src/engine/kernels/wasm/gemm.generated.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await generateGemmModuleSource());
  });
});

for (const name of KERNELS) {
  describe(`sgemm path: ${name}`, () => {
    const kernel = gemmKernel(name)!;

    it('matches a float64 product on random small shapes, all transposes, accumulate and offsets', () => {
      const next = rng(1234);
      for (let t = 0; t < 300; t++) checkProduct(kernel, randomCase(next, EDGE_SIZES));
    });

    it('matches on each transpose combination at sizes that cross tile and K-block edges', () => {
      const next = rng(99);
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [M, N, K] of [
            [64, 100, 1000],
            [1000, 100, 64],
            [37, 29, 515],
          ]) {
            for (const accumulate of [false, true]) {
              checkProduct(kernel, {
                transA,
                transB,
                M,
                N,
                K,
                A: randomArray(M * K, next),
                B: randomArray(K * N, next),
                C: randomArray(M * N, next),
                accumulate,
              });
            }
          }
        }
      }
    });

    it('matches on wide B (packed into strips from N = 256 on): odd widths, all transposes, accumulate, offsets', () => {
      const next = rng(77);
      for (const N of [256, 257, 258, 259, 262, 263, 300]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const M = 1 + Math.floor(next() * 9);
            // K > 256 crosses a K block inside a packed strip.
            const K = N === 259 ? 300 : 1 + Math.floor(next() * 40);
            const aOffset = Math.floor(next() * 3);
            const bOffset = Math.floor(next() * 3);
            const cOffset = Math.floor(next() * 3);
            checkProduct(kernel, {
              transA,
              transB,
              M,
              N,
              K,
              A: randomArray(aOffset + M * K, next),
              aOffset,
              B: randomArray(bOffset + K * N, next),
              bOffset,
              C: randomArray(cOffset + M * N + 2, next),
              cOffset,
              accumulate: next() < 0.5,
            });
          }
        }
      }
    });

    it('handles M, N or K equal to 0 (K = 0 gives zeros, or leaves C when accumulating)', () => {
      const C = new Float32Array([1, 2, 3, 4, 5, 6]);
      kernel({ transA: false, transB: false, M: 0, N: 3, K: 2, A: new Float32Array(0), B: new Float32Array(6), C });
      kernel({ transA: false, transB: false, M: 2, N: 0, K: 2, A: new Float32Array(4), B: new Float32Array(0), C });
      expect(Array.from(C)).toEqual([1, 2, 3, 4, 5, 6]);
      const A0 = new Float32Array(0);
      kernel({ transA: false, transB: false, M: 2, N: 2, K: 0, A: A0, B: A0, C, cOffset: 1, accumulate: true });
      expect(Array.from(C)).toEqual([1, 2, 3, 4, 5, 6]);
      kernel({ transA: true, transB: true, M: 2, N: 2, K: 0, A: A0, B: A0, C, cOffset: 1 });
      expect(Array.from(C)).toEqual([1, 0, 0, 0, 0, 6]);
    });

    it('propagates NaN and Infinity: 0 * Inf is NaN, zeros are never skipped', () => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          // A [2×3] with a zero, B [3×5] with an Inf exactly where that zero meets it; N=5 also exercises the
          // partial-column edge tile.
          const M = 2;
          const N = 5;
          const K = 3;
          const a = [
            [0, 1, 2],
            [1, 1, 1],
          ];
          const b = [
            [Infinity, 1, 1, 1, 1],
            [1, 1, 1, 1, NaN],
            [1, 1, -Infinity, 1, 1],
          ];
          const A = new Float32Array(M * K);
          const B = new Float32Array(K * N);
          for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) A[transA ? k * M + i : i * K + k] = a[i][k];
          for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) B[transB ? j * K + k : k * N + j] = b[k][j];
          const C = new Float32Array(M * N);
          kernel({ transA, transB, M, N, K, A, B, C });
          expect(Array.from(C)).toEqual([NaN, 3, -Infinity, 3, NaN, Infinity, 3, -Infinity, 3, NaN]);
        }
      }
    });

    it('handles vectors: M = 1, N = 1 and K = 1', () => {
      const next = rng(7);
      for (const [M, N, K] of [
        [1, 1, 1],
        [1, 37, 19],
        [23, 1, 41],
        [29, 31, 1],
        [1, 1, 300],
      ]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            checkProduct(kernel, {
              transA,
              transB,
              M,
              N,
              K,
              A: randomArray(M * K, next),
              B: randomArray(K * N, next),
              C: randomArray(M * N, next),
              accumulate: next() < 0.5,
            });
          }
        }
      }
    });

    it('reuses its scratch: a large product, then small ones, then a large one again give correct results', () => {
      const next = rng(5);
      checkProduct(kernel, randomCase(next, [150, 200]));
      for (let t = 0; t < 20; t++) checkProduct(kernel, randomCase(next, [1, 3, 8]));
      checkProduct(kernel, randomCase(next, [120, 250]));
    });
  });
}

forEachKernel((name) => {
  it(`routes the engine's sgemm binding to the ${name} path`, () => {
    expect(activeKernel()).toBe(name);
    const next = rng(11);
    checkProduct(sgemm, randomCase(next, EDGE_SIZES));
  });
});

/** Values that exercise rounding and IEEE special cases: NaN, ±Inf, ±0, subnormals, huge and tiny numbers. */
function specialArray(n: number, next: () => number): Float32Array {
  const pool = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-42, 3.4e38, -3.4e38, 1, -1, 0.1, 1 / 3];
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next() < 0.2 ? pool[Math.floor(next() * pool.length)] : (next() * 2 - 1) * 10 ** Math.floor(next() * 8 - 4);
  return a;
}

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    // Any NaN equals any NaN (payloads are not specified); everything else bit for bit, including the sign of 0.
    if (Number.isNaN(got[i]) && Number.isNaN(want[i])) continue;
    if (g[i] !== w[i]) throw new Error(`${what}: element ${i} is ${got[i]}, the JS loop gives ${want[i]}`);
  }
}

const OPS = ['add', 'sub', 'mul', 'div'] as const;
const jsOp = (op: (typeof OPS)[number], x: number, y: number) =>
  op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y;

for (const name of KERNELS.filter((n) => n !== 'js')) {
  describe(`elementwise kernels: ${name}`, () => {
    const ew = elementwiseKernelsOf(name)!;
    const SIZES = [1, 3, 4, 5, 17, 1024, 1031, 100_003];

    it('binary ops equal the JS loops bit for bit (NaN, Inf, -0, subnormals, odd lengths, aliasing)', () => {
      const next = rng(21);
      for (const n of SIZES) {
        for (const op of OPS) {
          const a = specialArray(n, next);
          const b = specialArray(n, next);
          const want = new Float32Array(n);
          for (let i = 0; i < n; i++) want[i] = jsOp(op, a[i], b[i]);
          const out = new Float32Array(n);
          ew.binary(op, a, b, out);
          expectSameBits(out, want, `${op} n=${n}`);
          const inPlace = a.slice();
          ew.binary(op, inPlace, b, inPlace);
          expectSameBits(inPlace, want, `${op} in place n=${n}`);
        }
      }
    });

    it('scalar ops (both sides) and axpy equal the JS loops bit for bit', () => {
      const next = rng(22);
      for (const n of SIZES) {
        const a = specialArray(n, next);
        for (const s of [Math.fround(1e-6), -0, Infinity, NaN, Math.fround(2.5)]) {
          for (const op of OPS) {
            for (const left of [false, true]) {
              const want = new Float32Array(n);
              for (let i = 0; i < n; i++) want[i] = left ? jsOp(op, s, a[i]) : jsOp(op, a[i], s);
              const out = new Float32Array(n);
              ew.scalar(op, a, s, out, left);
              expectSameBits(out, want, `${left ? 's ' + op + ' a' : 'a ' + op + ' s'} s=${s} n=${n}`);
            }
          }
          const x = specialArray(n, next);
          const want = x.slice();
          for (let i = 0; i < n; i++) want[i] += s * a[i];
          ew.axpy(x, a, s);
          expectSameBits(x, want, `axpy alpha=${s} n=${n}`);
        }
      }
    });

    it('clamp and its gradient equal the JS loops bit for bit (NaN passes, gradient flows at the bounds)', () => {
      const next = rng(23);
      for (const n of SIZES) {
        const x = specialArray(n, next);
        x[0] = 0; // exactly at the bound
        const g = specialArray(n, next);
        for (const [lo, hi] of [
          [0, Infinity],
          [-1, 1],
          [-Infinity, 0.5],
        ]) {
          const want = new Float32Array(n);
          for (let i = 0; i < n; i++) want[i] = Math.min(Math.max(x[i], lo), hi);
          const out = new Float32Array(n);
          ew.clamp(x, out, lo, hi);
          expectSameBits(out, want, `clamp [${lo}, ${hi}] n=${n}`);
          const gw = new Float32Array(n);
          for (let i = 0; i < n; i++) gw[i] = x[i] >= lo && x[i] <= hi ? g[i] : 0;
          const gout = new Float32Array(n);
          ew.clampBackward(x, g, gout, lo, hi);
          expectSameBits(gout, gw, `clamp backward [${lo}, ${hi}] n=${n}`);
        }
      }
    });
  });
}

describe('accumulateRounded (autograd adding a product into an existing .grad)', () => {
  for (const name of KERNELS) {
    it(`${name}: equals the product computed alone and then added, bit for bit`, () => {
      const kernel = gemmKernel(name)!;
      const next = rng(31);
      for (let t = 0; t < 60; t++) {
        const args = randomCase(next, [1, 3, 4, 5, 8, 9, 17, 64]);
        const co = args.cOffset ?? 0;
        const n = args.M * args.N;
        const tmp = new Float32Array(n);
        kernel({ ...args, C: tmp, cOffset: 0, accumulate: false });
        const want = args.C.slice();
        for (let i = 0; i < n; i++) want[co + i] += tmp[i];
        const got = args.C.slice();
        kernel({ ...args, C: got, accumulate: false, accumulateRounded: true });
        expectSameBits(got, want, `M=${args.M} N=${args.N} K=${args.K}`);
      }
    });
  }
});
