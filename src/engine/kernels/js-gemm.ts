/**
 * Pure TypeScript sgemm for runtimes without WebAssembly SIMD. Same arithmetic as `sgemmReference` (float32 rounding
 * after every multiply-add, k in increasing order), but the inner loop always walks contiguous memory: a transposed B
 * is first transposed into a reused scratch buffer, so `g.mm(w.t())` does not stride through B.
 */
import type { GemmArgs } from './gemm.js';

let scratch = new Float32Array(0);

export function sgemmJs(args: GemmArgs): void {
  if (args.accumulateRounded && !args.accumulate) return viaTemporary(sgemmJs, args);
  const { transA, transB, M, N, K, A, C } = args;
  const ao = args.aOffset ?? 0;
  const co = args.cOffset ?? 0;
  let B = args.B;
  let bo = args.bOffset ?? 0;
  if (M === 0 || N === 0) return;
  if (!args.accumulate) C.fill(0, co, co + M * N);
  if (K === 0) return;
  if (transB) {
    // B is stored [N×K]; make the [K×N] copy the i-k-j loop wants.
    if (scratch.length < K * N) scratch = new Float32Array(K * N);
    for (let j = 0; j < N; j++) {
      const src = bo + j * K;
      for (let k = 0; k < K; k++) scratch[k * N + j] = B[src + k];
    }
    B = scratch;
    bo = 0;
  }
  for (let i = 0; i < M; i++) {
    const cRow = co + i * N;
    for (let k = 0; k < K; k++) {
      const a = transA ? A[ao + k * M + i] : A[ao + i * K + k];
      const bRow = bo + k * N;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

/** Runs `kernel` without accumulateRounded: product into a temporary, then one float32 add per element. */
export function viaTemporary(kernel: (args: GemmArgs) => void, args: GemmArgs): void {
  const n = args.M * args.N;
  const tmp = new Float32Array(n);
  kernel({ ...args, C: tmp, cOffset: 0, accumulate: false, accumulateRounded: false });
  const C = args.C;
  const co = args.cOffset ?? 0;
  for (let i = 0; i < n; i++) C[co + i] += tmp[i];
}
