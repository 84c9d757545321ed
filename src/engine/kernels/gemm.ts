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
}

export function sgemmReference(args: GemmArgs): void {
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
}
