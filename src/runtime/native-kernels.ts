/**
 * Node-side loader of the optional native accelerator (native/, built by `npm run build:native`): an AVX-512 / AVX2 /
 * portable C sgemm and elementwise kernels that work in place on the tensors' Float32Arrays, with the plain-SIMD
 * WebAssembly kernel's arithmetic (separate multiply and add, k in order), so their results are the same bits.
 *
 * The engine never loads this (it must run in browsers): the host calls `registerNativeKernels()`, which adds a
 * kernel path named 'native' to the engine's registry. A missing or broken addon is not an error: the loader
 * returns the reason and the engine keeps its WebAssembly paths. `GRADLOOM_NATIVE=0` disables it;
 * `GRADLOOM_NATIVE_ADDON=/path/to/file.node` loads another build (tests use it to prove the fallbacks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShapeError } from '../engine/errors.js';
import { gemmKernel, registerKernel, type GemmArgs } from '../engine/kernels/gemm.js';
import type { BinaryOpName, ElementwiseKernels } from '../engine/kernels/wasm-gemm.js';
import { installNodeAllocator } from './node-alloc.js';

export type NativeIsa = 'avx512' | 'avx2' | 'scalar';

/** The addon's exports (native/gradloom_native.c). */
interface NativeAddon {
  sgemm(
    A: Float32Array, aOff: number, B: Float32Array, bOff: number, C: Float32Array, cOff: number,
    M: number, N: number, K: number, transA: boolean, transB: boolean, mode: number,
  ): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  scalar(op: number, a: Float32Array, s: number, out: Float32Array, left: boolean): void;
  axpy(x: Float32Array, y: Float32Array, alpha: number): void;
  clamp(a: Float32Array, out: Float32Array, lo: number, hi: number): void;
  clampBackward(x: Float32Array, g: Float32Array, out: Float32Array, lo: number, hi: number): void;
  /** Absent from an addon built before it: the engine then keeps its JavaScript Box-Muller. */
  normal16?(data: Float32Array, offset: number, blocks: number, mean: number, std: number): void;
  isa(): NativeIsa;
  isas(): NativeIsa[];
  useIsa(isa: NativeIsa): void;
  /** Absent from an addon built before it. */
  zeroSkips?(): number;
}

export interface NativeKernels {
  /** The engine's sgemm on this path: the addon, or for tiny products the plain-SIMD kernel (the same bits). */
  gemm: (args: GemmArgs) => void;
  /** Always the addon's kernel, whatever the size (tests prove it on every shape). */
  nativeGemm: (args: GemmArgs) => void;
  elementwise: ElementwiseKernels;
  /** The sgemm kernel in use on this thread. */
  isa(): NativeIsa;
  /** Kernels this CPU supports, fastest first. */
  isas(): NativeIsa[];
  /** Pins this thread's sgemm kernel (tests prove each one); throws if the CPU lacks it. */
  useIsa(isa: NativeIsa): void;
  /** Products in this process that skipped an operand's exact zeros (native/src/gemm_zero_skip.c); tests read it. */
  zeroSkips(): number;
  /** The .node file loaded. */
  file: string;
}

export type NativeLoad = { ok: true; kernels: NativeKernels } | { ok: false; reason: string };

/** The directory of gradloom's package.json: this file runs from src/runtime (tsx) or dist/src/runtime (compiled). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'gradloom') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no gradloom package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function nativeAddonPath(): string {
  return path.join(packageRoot(), 'native', 'build', 'Release', 'gradloom_native.node');
}

const OPS: Record<BinaryOpName, number> = { add: 0, sub: 1, mul: 2, div: 3 };

/**
 * Below this many multiply-adds (M·N·K) a product goes to the plain-SIMD WebAssembly kernel when there is one: its
 * call costs less than an N-API call with twelve arguments (measured: 15×1×1 191 vs 327 ns; 16³ 418 vs 409 ns;
 * 32³ 1949 vs 1032 ns), and its results are the same bits. The linear regression's products are all this small.
 */
const SMALL_PRODUCT = 4096;

function wrap(addon: NativeAddon, file: string, small: ((args: GemmArgs) => void) | undefined): NativeKernels {
  const nativeGemm = function sgemmNative(args: GemmArgs): void {
    const { transA, transB, M, N, K, A, B, C } = args;
    const ao = args.aOffset ?? 0;
    const bo = args.bOffset ?? 0;
    const co = args.cOffset ?? 0;
    checkGemm(args, ao, bo, co);
    const mode = args.accumulate ? 1 : args.accumulateRounded ? 2 : 0;
    addon.sgemm(A, ao, B, bo, C, co, M, N, K, transA === true, transB === true, mode);
  };
  const gemm = small
    ? function sgemmNativeOrSmall(args: GemmArgs): void {
        if (args.M * args.N * args.K < SMALL_PRODUCT) small(args);
        else nativeGemm(args);
      }
    : nativeGemm;
  // Same lengths are the callers' contract (elementwise.ts checks before calling); anything else is declined, and
  // the caller runs its own loop, as it does when the WebAssembly scratch is too small.
  const elementwise: ElementwiseKernels = {
    binary(op, a, b, out) {
      if (a.length !== out.length || b.length !== out.length) return false;
      addon.binary(OPS[op], a, b, out);
      return true;
    },
    scalar(op, a, s, out, left) {
      if (a.length !== out.length) return false;
      addon.scalar(OPS[op], a, s, out, left);
      return true;
    },
    axpy(x, y, alpha) {
      if (x.length !== y.length) return false;
      addon.axpy(x, y, alpha);
      return true;
    },
    clamp(a, out, lo, hi) {
      if (a.length !== out.length) return false;
      addon.clamp(a, out, lo, hi);
      return true;
    },
    clampBackward(x, g, out, lo, hi) {
      if (x.length !== out.length || g.length !== out.length) return false;
      addon.clampBackward(x, g, out, lo, hi);
      return true;
    },
    normal16(data, offset, blocks, mean, std) {
      if (!addon.normal16 || offset < 0 || blocks < 0 || offset + 16 * blocks > data.length) return false;
      addon.normal16(data, offset, blocks, mean, std);
      return true;
    },
  };
  return {
    gemm,
    nativeGemm,
    elementwise,
    isa: () => addon.isa(),
    isas: () => addon.isas(),
    zeroSkips: () => addon.zeroSkips?.() ?? 0,
    useIsa: (isa) => addon.useIsa(isa),
    file,
  };
}

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new ShapeError(`sgemm: ${name} must be a non-negative integer, got ${v}`);
}

/**
 * The checks the WebAssembly and JS paths get from the ops that call them (matmul.ts throws ShapeError on shapes
 * that cannot be multiplied): here they guard memory the kernel writes in place, so they are made on every call.
 * The addon checks again in C (RangeError/TypeError) before it touches memory.
 */
function checkGemm(args: GemmArgs, ao: number, bo: number, co: number): void {
  const { M, N, K, A, B, C } = args;
  checkDim('M', M);
  checkDim('N', N);
  checkDim('K', K);
  checkDim('aOffset', ao);
  checkDim('bOffset', bo);
  checkDim('cOffset', co);
  for (const [name, arr] of [['A', A], ['B', B], ['C', C]] as const) {
    if (!(arr instanceof Float32Array)) throw new TypeError(`sgemm: ${name} must be a Float32Array`);
  }
  const need = (name: string, arr: Float32Array, off: number, rows: number, cols: number, layout: string): void => {
    if (off + rows * cols > arr.length || off > arr.length) {
      throw new ShapeError(
        `sgemm: ${name} [${layout}] at offset ${off} needs ${off + rows * cols} elements, but its length is ${arr.length}`,
      );
    }
  };
  need('A', A, ao, M, K, args.transA ? `${K}x${M}, transposed` : `${M}x${K}`);
  need('B', B, bo, K, N, args.transB ? `${N}x${K}, transposed` : `${K}x${N}`);
  need('C', C, co, M, N, `${M}x${N}`);
}

let loaded: NativeLoad | undefined;

/** Loads the addon once per thread; never throws. */
export function loadNativeKernels(): NativeLoad {
  if (loaded) return loaded;
  if (process.env.GRADLOOM_NATIVE === '0') return (loaded = { ok: false, reason: 'disabled by GRADLOOM_NATIVE=0' });
  let file: string;
  try {
    file = process.env.GRADLOOM_NATIVE_ADDON || nativeAddonPath();
  } catch (e) {
    return (loaded = { ok: false, reason: (e as Error).message });
  }
  if (!existsSync(file)) {
    return (loaded = { ok: false, reason: `${file} is missing (run npm run build:native; needs a C compiler)` });
  }
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    const missing = (['sgemm', 'binary', 'scalar', 'axpy', 'clamp', 'clampBackward', 'isa', 'isas', 'useIsa'] as const).filter(
      (k) => typeof (addon as unknown as Record<string, unknown>)[k] !== 'function',
    );
    if (missing.length > 0) {
      return (loaded = { ok: false, reason: `${file} failed to load: it does not export ${missing.join(', ')}` });
    }
    return (loaded = { ok: true, kernels: wrap(addon, file, gemmKernel('simd')) });
  } catch (e) {
    return (loaded = { ok: false, reason: `${file} failed to load: ${(e as Error).message}` });
  }
}

/**
 * Loads the addon and registers it as the engine's 'native' kernel path (the preferred one unless the user pinned
 * another). Returns the load result; on failure the kernels are unchanged. Either way it also installs Node's
 * uninitialised allocator for op results (node-alloc.ts), which changes no number, only the time.
 */
export function registerNativeKernels(): NativeLoad {
  // Node's uninitialised storage for op results (whatever kernel runs them): every Node host calls this function.
  installNodeAllocator();
  const r = loadNativeKernels();
  if (r.ok) registerKernel('native', { gemm: r.kernels.gemm, elementwise: r.kernels.elementwise });
  return r;
}
