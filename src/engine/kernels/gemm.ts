/**
 * Single-precision matrix product on row-major, contiguous buffers:
 *
 *   C[M×N] (+)= op(A) · op(B)
 *
 * where op(A) is A [M×K] or, with transA, A stored as [K×M]; likewise op(B) is B [K×N] or, with transB, B stored
 * as [N×K]. Transposed operands are read in place, never materialised. With `accumulate` the product is added to
 * C; otherwise C is overwritten. Offsets let callers address batches inside one buffer.
 *
 * Every product in the engine goes through `sgemm`, so a faster kernel (WebAssembly SIMD) replaces this one in a
 * single place. This is the portable reference: accumulation in float32, rounding after every multiply-add as a
 * Float32Array store does, which keeps it within float32 rounding of PyTorch's reference BLAS.
 */
import { sgemmJs, viaTemporary } from './js-gemm.js';
import {
  decodeBase64,
  hasRelaxedSimd,
  hasWasmSimd,
  instantiateKernels,
  instantiateKernelsAsync,
  type ElementwiseKernels,
} from './wasm-gemm.js';
import { GEMM_RELAXED_WASM, GEMM_SIMD_WASM } from './wasm/gemm.generated.js';

export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  A: Float32Array;
  aOffset?: number;
  B: Float32Array;
  bOffset?: number;
  C: Float32Array;
  cOffset?: number;
  accumulate?: boolean;
  /**
   * C += round32(op(A)·op(B)): the product is finished and rounded to float32 before it is added, exactly as computing
   * it into a temporary and adding that would (autograd accumulating into an existing .grad). `accumulate` instead
   * continues C's sum with the products. Ignored when `accumulate` is set.
   */
  accumulateRounded?: boolean;
}


export function sgemmReference(args: GemmArgs): void {
  if (args.accumulateRounded && !args.accumulate) return viaTemporary(sgemmReference, args);
  const { transA, transB, M, N, K, A, B, C } = args;
  const ao = args.aOffset ?? 0;
  const bo = args.bOffset ?? 0;
  const co = args.cOffset ?? 0;
  if (!args.accumulate) C.fill(0, co, co + M * N);
  for (let i = 0; i < M; i++) {
    const cRow = co + i * N;
    for (let k = 0; k < K; k++) {
      const a = transA ? A[ao + k * M + i] : A[ao + i * K + k];
      if (transB) {
        for (let j = 0; j < N; j++) C[cRow + j] += a * B[bo + j * K + k];
      } else {
        const bRow = bo + k * N;
        for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
      }
    }
  }
}

/** The kernel the engine uses; replaced at start-up by a faster implementation where one is available. */
export let sgemm: (args: GemmArgs) => void = sgemmReference;

export function setGemmKernel(kernel: (args: GemmArgs) => void): void {
  sgemm = kernel;
  active = 'custom';
  userChoice = true;
}

// ---- Kernel selection -----------------------------------------------------------------------------------------------
// The registry lives here, beside the binding it swaps, so that importing any op (which imports this module) is enough
// to get the fastest kernel: there is no separate initialisation call to forget.

/**
 * 'native' is an optional host accelerator (Node addon, src/runtime/native-kernels.ts) that the host registers with
 * `registerKernel`; the engine never loads it itself, so it stays free of Node.
 */
export type KernelName = 'native' | 'relaxed' | 'simd' | 'js';
const PREFERENCE: KernelName[] = ['native', 'relaxed', 'simd', 'js'];
export interface Backend {
  gemm: (args: GemmArgs) => void;
  /** Null: the JavaScript loops in elementwise.ts. */
  elementwise: ElementwiseKernels | null;
  /** Products done so far by skipping exact zeros (paths that have such a shortcut; tests prove it was taken). */
  zeroSkips?: () => number;
}
const kernels = new Map<KernelName, Backend>([['js', { gemm: sgemmJs, elementwise: null }]]);
let active: KernelName | 'custom' = 'js';
let activeEw: ElementwiseKernels | null = null;
sgemm = sgemmJs;
let userChoice = false;

function activate(name: KernelName, b: Backend): void {
  sgemm = b.gemm;
  activeEw = b.elementwise;
  active = name;
}

function register(name: KernelName, k: Backend): void {
  const b: Backend = { gemm: k.gemm, elementwise: k.elementwise, zeroSkips: k.zeroSkips };
  kernels.set(name, b);
  // A kernel that became ready later (asynchronous compilation in a browser) replaces a slower automatic choice,
  // never a kernel the user picked.
  if (!userChoice && PREFERENCE.indexOf(name) < PREFERENCE.indexOf(active as KernelName)) activate(name, b);
}

/**
 * Adds (or replaces) a kernel path supplied by the host, e.g. the native addon in Node. It becomes the active path
 * when it is preferred over the automatic choice, never over a kernel the user picked with `useKernel`.
 */
export function registerKernel(name: KernelName, backend: Backend): void {
  register(name, backend);
  if (active === name) activate(name, kernels.get(name)!);
}

/** The elementwise kernels of the active path (null on the JS path: callers run their own loops). */
export function elementwiseKernels(): ElementwiseKernels | null {
  return activeEw;
}

const pending: Promise<void>[] = [];
function load(name: KernelName, b64: string): void {
  const bytes = decodeBase64(b64);
  try {
    register(name, instantiateKernels(bytes));
  } catch {
    // Browsers refuse synchronous compilation of larger modules on the main thread; compile in the background.
    pending.push(instantiateKernelsAsync(bytes).then((k) => register(name, k), () => undefined));
  }
}

/**
 * Probes the runtime and loads every WebAssembly kernel it supports that is not loaded yet. Runs at import; call it
 * again after enabling relaxed SIMD late (Node 20: `v8.setFlagsFromString('--experimental-wasm-relaxed-simd')`, see
 * src/runtime/relaxed-simd.ts). Resolves when background compilation (browsers) has finished.
 */
export function detectKernels(): Promise<void> {
  if (!kernels.has('simd') && hasWasmSimd()) load('simd', GEMM_SIMD_WASM);
  if (!kernels.has('relaxed') && hasRelaxedSimd()) load('relaxed', GEMM_RELAXED_WASM);
  return Promise.all(pending).then(() => undefined);
}

/** Resolves once every kernel this runtime supports at import time is usable (immediately in Node). */
export const kernelsReady: Promise<void> = detectKernels();

/** Kernel paths usable in this runtime, fastest first. */
export function availableKernels(): KernelName[] {
  return PREFERENCE.filter((n) => kernels.has(n));
}

/** Switches every matrix product to the named kernel; throws if this runtime lacks it. */
export function useKernel(name: KernelName): void {
  const b = kernels.get(name);
  if (!b) {
    throw new Error(`kernel '${name}' is not available in this runtime (available: ${availableKernels().join(', ')})`);
  }
  activate(name, b);
  userChoice = true;
}

export function activeKernel(): KernelName | 'custom' {
  return active;
}

/** The elementwise kernels of a path (null for 'js'; tests call each path directly). */
export function elementwiseKernelsOf(name: KernelName): ElementwiseKernels | null | undefined {
  return kernels.get(name)?.elementwise;
}

/** How many products a path has done by skipping exact zeros (undefined: the path has no such shortcut). */
export function zeroSkipsOf(name: KernelName): number | undefined {
  return kernels.get(name)?.zeroSkips?.();
}

/** The raw kernel of a path (tests call each path directly). */
export function gemmKernel(name: KernelName): ((args: GemmArgs) => void) | undefined {
  return kernels.get(name)?.gemm;
}
