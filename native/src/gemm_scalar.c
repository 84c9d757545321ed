/* Portable sgemm: the arithmetic contract of gemm.h in plain C, i-k-j loops with C's row as the accumulator. */
#include <stdlib.h>
#include <string.h>
#include "gemm.h"

int sgemm_scalar(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                 float *C, int mode) {
  if (M == 0 || N == 0) return 0;
  if (K == 0) {
    if (mode == GEMM_OVERWRITE) memset(C, 0, (size_t)(M * N) * sizeof(float));
    return 0;
  }
  /* Mode 2 finishes each row's product in a temporary row before adding it to C. */
  float *row = NULL;
  if (mode == GEMM_ACCUMULATE_ROUNDED) {
    row = (float *)malloc((size_t)N * sizeof(float));
    if (row == NULL) return -1;
  }
  for (ptrdiff_t i = 0; i < M; i++) {
    float *c = row != NULL ? row : C + i * N;
    if (mode != GEMM_ACCUMULATE) memset(c, 0, (size_t)N * sizeof(float));
    for (ptrdiff_t k = 0; k < K; k++) {
      const float a = transA ? A[k * M + i] : A[i * K + k];
      if (transB) {
        for (ptrdiff_t j = 0; j < N; j++) c[j] = c[j] + a * B[j * K + k];
      } else {
        const float *b = B + k * N;
        for (ptrdiff_t j = 0; j < N; j++) c[j] = c[j] + a * b[j];
      }
    }
    if (row != NULL) {
      float *out = C + i * N;
      for (ptrdiff_t j = 0; j < N; j++) out[j] = out[j] + row[j];
    }
  }
  free(row);
  return 0;
}
