/**
 * Host side of the WebAssembly C = Aᵀ·B that skips the exact zeros of its smaller operand (a ReLU gradient's, in
 * mm's `xᵀ·g`), with the dense kernel's bits: see scripts/zero-skip-wat.ts and native/src/gemm_zero_skip.c for why.
 *
 * It runs only where that holds and pays: transA without transB; overwrite or accumulate-rounded (both start the sum
 * from +0; plain accumulate continues C's sum, which may be -0); at least 2^16 multiply-adds; at least a third of the
 * sparse operand P zeros; every element of the other operand Q finite (0·Inf is NaN). Otherwise it declines and the
 * dense kernel runs. Copies into wasm memory are those of the dense path: P, Q, C (when it is added to), C out.
 */
import type { GemmArgs } from './gemm.js';
import { ZERO_SKIP_NV as NV } from './wasm/gemm.generated.js';

export interface ZeroSkipExports {
  zs_zeros(p: number, n: number): number;
  zs_finite(p: number, n: number): number;
  zs_lists(pp: number, K: number, R: number, list: number, cnt: number, stride: number): void;
  zs_run(list: number, cnt: number, K: number, R: number, L: number, pq: number, pqp: number, pt: number, pc: number,
    trans: number, add: number): void;
}

/** Below this many multiply-adds the scans cost more than they can save (as the native addon). */
const MIN_WORK = 1 << 16;
/**
 * The scratch grows with K (the lists, the packed strip), and wasm memory never shrinks: a full-batch job with
 * hundreds of thousands of rows runs dense, as on the native addon (at most 2^14 rows, 2^20 elements of P).
 */
export const ZERO_SKIP_MAX_K = 1 << 14;
const MAX_P = 1 << 20;
const PAD = 16;
const align = (n: number) => (n + 15) & ~15;

export interface ZeroSkipper {
  /** Does the product and returns true, or returns false having written nothing (the dense kernel then runs). */
  run(args: GemmArgs): boolean;
  /** Products this instance did by skipping zeros (tests use it to prove the path was taken). */
  count(): number;
}

export function zeroSkipper(ex: ZeroSkipExports, reserve: (bytes: number) => boolean, heap: () => Float32Array): ZeroSkipper {
  let taken = 0;
  function run(args: GemmArgs): boolean {
    const { transA, transB, M, N, K, A, B, C } = args;
    if (!transA || transB || args.accumulate || M * N * K < MIN_WORK || K > ZERO_SKIP_MAX_K) return false;
    // The smaller operand is the one a ReLU's gradient makes sparse in mm's and Linear's weight gradients.
    const pIsB = N <= M;
    const R = pIsB ? N : M;
    const L = pIsB ? M : N;
    const pLen = K * R;
    if (pLen > MAX_P) return false;
    const qLen = K * L;
    const cLen = M * N;
    const pp = PAD;
    const pq = align(pp + pLen * 4 + PAD);
    const pc = align(pq + qLen * 4 + PAD);
    const list = align(pc + cLen * 4 + PAD);
    const cnt = align(list + pLen * 8);
    const pqp = align(cnt + R * 4 + PAD);
    const pt = align(pqp + K * NV * 16 + PAD);
    if (!reserve(pt + 4 * NV * 16 + PAD)) return false;
    const ao = args.aOffset ?? 0;
    const bo = args.bOffset ?? 0;
    const co = args.cOffset ?? 0;
    let h = heap();
    h.set(pIsB ? B.subarray(bo, bo + pLen) : A.subarray(ao, ao + pLen), pp >> 2);
    // Measured on the native path: at a quarter zeros skipping costs what the dense kernel does.
    if (ex.zs_zeros(pp, pLen) * 3 < pLen) return false;
    h.set(pIsB ? A.subarray(ao, ao + qLen) : B.subarray(bo, bo + qLen), pq >> 2);
    if (ex.zs_finite(pq, qLen) === 0) return false;
    const add = !args.accumulate && args.accumulateRounded === true;
    if (add) h.set(C.subarray(co, co + cLen), pc >> 2);
    ex.zs_lists(pp, K, R, list, cnt, NV * 16);
    ex.zs_run(list, cnt, K, R, L, pq, pqp, pt, pc, pIsB ? 1 : 0, add ? 1 : 0);
    h = heap();
    C.set(h.subarray(pc >> 2, (pc >> 2) + cLen), co);
    taken++;
    return true;
  }
  return { run, count: () => taken };
}
