/*
 * C = Aᵀ·B (transA, B not transposed) that skips the exact zeros of one operand: a backward pass through a ReLU (or
 * clamp) gives a gradient with about half its entries +0, and `xᵀ·g` (mm's weight gradient) or `gᵀ·x` (Linear's)
 * then spends half its multiplies on them. Same bits as the dense kernels, under gemm.h's contract:
 *
 * - Every element's sum starts from +0 and takes its terms in k order. A sum that starts from +0 is never -0 (in
 *   round-to-nearest, x + y is -0 only when both are -0, and +0 + -0 is +0), so adding a term that is ±0 never
 *   changes it: dropping the terms whose factor is ±0 changes no bit, as long as the other factor is finite
 *   (0·Inf and 0·NaN are NaN). So this path runs only when every element of the other operand is finite, and only
 *   in modes that start from +0 (overwrite, and accumulate-rounded, whose product starts from +0 before C is added).
 * - NaN factors are not zeros: they stay in the sum.
 *
 * Shape of the work: the sparse operand P (Aᵀ or Bᵀ read by rows: P is [K x R] in memory) becomes per-row lists of
 * its nonzero (k, value); each output row r is then the sum over its list of value * Q[k][block], a broadcast times
 * 12 contiguous vectors of the dense operand Q. When P = A the rows are C's rows; when P = B they are C's columns,
 * and each 8 x 96 block is transposed in registers before it is written (or added) into C.
 */
#include "gemm.h"

static long taken;

long sgemm_zero_skip_count(void) {
#if defined(__GNUC__)
  return __atomic_load_n(&taken, __ATOMIC_RELAXED);
#else
  return taken;
#endif
}

#if defined(GRADLOOM_X86) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TGT __attribute__((target("avx2")))
#define AI __attribute__((always_inline)) inline

enum { LANES = 8, NVEC = 12, LW = LANES * NVEC, RB = 8 };

/* Below this many multiply-adds the scans cost more than they can save. */
#define MIN_WORK ((ptrdiff_t)1 << 16)
/*
 * The scratch grows with K (lists: 12 B per element of P; the packed block: 384 B per row of Q). A full-batch job
 * with hundreds of thousands of rows would allocate hundreds of MB each step outside any heap limit, so longer
 * products run dense: at most 2^14 rows (a 6 MiB block) and 2^20 elements of P (12 MiB of lists).
 */
#define MAX_K ((ptrdiff_t)1 << 14)
#define MAX_P ((ptrdiff_t)1 << 20)

static TGT __m256i lane_mask(ptrdiff_t rem) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), lane);
}

/* Whether all n floats are finite (exponent not all ones). */
static TGT int all_finite(const float *p, ptrdiff_t n) {
  const __m256i expo = _mm256_set1_epi32(0x7f800000);
  ptrdiff_t i = 0;
  for (; i + 4 * LANES <= n; i += 4 * LANES) {
    __m256i e0 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + i)), expo);
    __m256i e1 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + i + 8)), expo);
    __m256i e2 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + i + 16)), expo);
    __m256i e3 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + i + 24)), expo);
    __m256i bad = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi32(e0, expo), _mm256_cmpeq_epi32(e1, expo)),
                                  _mm256_or_si256(_mm256_cmpeq_epi32(e2, expo), _mm256_cmpeq_epi32(e3, expo)));
    if (!_mm256_testz_si256(bad, bad)) return 0;
  }
  for (; i < n; i++) {
    uint32_t u;
    memcpy(&u, p + i, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return 0;
  }
  return 1;
}

static TGT ptrdiff_t count_zeros(const float *p, ptrdiff_t n) {
  ptrdiff_t z = 0, i = 0;
  for (; i + LANES <= n; i += LANES)
    z += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i), _mm256_setzero_ps(), _CMP_EQ_OQ)));
  for (; i < n; i++) z += p[i] == 0.0f;
  return z;
}

/*
 * One output row over columns [l0, l0 + nvec*8): out[u] = sum over the row's list of val * Q[off + l0 + 8u], the
 * last vector masked when `masked` (lanes past the edge are neither read nor used).
 */
static AI TGT void row_sum(const int nvec, const int masked, const ptrdiff_t *off, const float *val, ptrdiff_t cnt,
                           const float *q, __m256i mlast, float *out) {
#define DECL(u) __m256 c##u = _mm256_setzero_ps();
#define FOR_U(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
  FOR_U(DECL)
  for (ptrdiff_t t = 0; t < cnt; t++) {
    const __m256 v = _mm256_broadcast_ss(val + t);
    const float *p = q + off[t];
#define ACC(u)                                                                                                       \
  if ((u) < nvec) {                                                                                                  \
    const __m256 x = masked && (u) == nvec - 1 ? _mm256_maskload_ps(p + (u) * LANES, mlast)                         \
                                               : _mm256_loadu_ps(p + (u) * LANES);                                   \
    c##u = _mm256_add_ps(c##u, _mm256_mul_ps(v, x));                                                                 \
  }
    FOR_U(ACC)
  }
#define OUT(u) if ((u) < nvec) _mm256_store_ps(out + (u) * LANES, c##u);
  FOR_U(OUT)
#undef DECL
#undef ACC
#undef OUT
}

#define ROW_SUM(n)                                                                                                   \
  static TGT __attribute__((noinline)) void row_sum_##n(int masked, const ptrdiff_t *off, const float *val,         \
                                                        ptrdiff_t cnt, const float *q, __m256i mlast, float *out) { \
    if (masked) row_sum(n, 1, off, val, cnt, q, mlast, out);                                                         \
    else row_sum(n, 0, off, val, cnt, q, mlast, out);                                                                \
  }
ROW_SUM(1) ROW_SUM(2) ROW_SUM(3) ROW_SUM(4) ROW_SUM(5) ROW_SUM(6) ROW_SUM(7) ROW_SUM(8) ROW_SUM(9) ROW_SUM(10)
ROW_SUM(11) ROW_SUM(12)
typedef void (*row_fn)(int, const ptrdiff_t *, const float *, ptrdiff_t, const float *, __m256i, float *);
static const row_fn ROWS[NVEC] = {row_sum_1, row_sum_2, row_sum_3, row_sum_4,  row_sum_5,  row_sum_6,
                                  row_sum_7, row_sum_8, row_sum_9, row_sum_10, row_sum_11, row_sum_12};

/* out = sum, or out + sum (accumulate-rounded), for n floats (n <= 8; masked when n < 8). */
static AI TGT void put(float *dst, __m256 sum, int add, ptrdiff_t n) {
  if (n == LANES) {
    if (add) sum = _mm256_add_ps(_mm256_loadu_ps(dst), sum);
    _mm256_storeu_ps(dst, sum);
    return;
  }
  const __m256i m = lane_mask(n);
  if (add) sum = _mm256_add_ps(_mm256_maskload_ps(dst, m), sum);
  _mm256_maskstore_ps(dst, m, sum);
}

/* The 8 x 8 block T[0..8)[c..c+8) (row stride LW) transposed: row t of the result is column c+t of T. */
static AI TGT void transpose8(const float *T, __m256 r[8]) {
  const __m256 a0 = _mm256_load_ps(T + 0 * LW), a1 = _mm256_load_ps(T + 1 * LW), a2 = _mm256_load_ps(T + 2 * LW),
               a3 = _mm256_load_ps(T + 3 * LW), a4 = _mm256_load_ps(T + 4 * LW), a5 = _mm256_load_ps(T + 5 * LW),
               a6 = _mm256_load_ps(T + 6 * LW), a7 = _mm256_load_ps(T + 7 * LW);
  const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1), t2 = _mm256_unpacklo_ps(a2, a3),
               t3 = _mm256_unpackhi_ps(a2, a3), t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5),
               t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/*
 * R = Pᵀ·Q over P's nonzeros, P [K x R], Q [K x L] (row-major). transposed = 0: R is C [R x L]; transposed = 1: C is
 * Rᵀ [L x R]. add: accumulate-rounded (C + product) instead of overwrite. Returns 0, or -1 when the lists could not
 * be allocated (C untouched).
 */
static TGT int skip_zeros(const float *P, const float *Q, ptrdiff_t K, ptrdiff_t R, ptrdiff_t L, float *C,
                          int transposed, int add) {
  ptrdiff_t *off = (ptrdiff_t *)malloc((size_t)(R * K) * sizeof(ptrdiff_t));
  float *val = (float *)malloc((size_t)(R * K) * sizeof(float));
  ptrdiff_t *cnt = (ptrdiff_t *)malloc((size_t)R * sizeof(ptrdiff_t));
  /* Q's block of columns [l0, l0 + LW), all K rows, packed: read in place, rows L floats apart (4000 B in xᵀ·g)
     fall into few L1 sets and the block's 64 rows evict each other (measured: 205 -> 150 us for xᵀ·g). */
  float *Qp = (float *)malloc((size_t)(K * LW) * sizeof(float));
  if (off == NULL || val == NULL || cnt == NULL || Qp == NULL) {
    free(off);
    free(val);
    free(cnt);
    free(Qp);
    return -1;
  }
  /* Branch-free (about half of a ReLU gradient's entries are zeros, in no pattern a branch predictor could learn):
     every entry is written at the row's next slot, which only a nonzero then claims. A row's list holds, in k
     order, P[k][r] and where row k of the packed block starts. P is small (it is the smaller
     operand), so reading it down its columns costs little. */
  for (ptrdiff_t r = 0; r < R; r++) {
    ptrdiff_t *o = off + r * K;
    float *w = val + r * K;
    ptrdiff_t c = 0;
    for (ptrdiff_t k = 0; k < K; k++) {
      const float v = P[k * R + r];
      o[c] = k * LW;
      w[c] = v;
      c += v != 0.0f;
    }
    cnt[r] = c;
  }
  float T[RB * LW] __attribute__((aligned(32)));
  for (ptrdiff_t l0 = 0; l0 < L; l0 += LW) {
    const ptrdiff_t lw = L - l0 < LW ? L - l0 : LW;
    const int nvec = (int)((lw + LANES - 1) / LANES);
    const int masked = lw % LANES != 0;
    const __m256i mlast = lane_mask(lw % LANES);
    const row_fn row = ROWS[nvec - 1];
    /* Vector copies: memcpy of 384 B became `rep movsq`, whose start-up cost was 30% of this function. */
    const int full = (int)(lw / LANES);
    for (ptrdiff_t k = 0; k < K; k++) {
      const float *src = Q + k * L + l0;
      float *dst = Qp + k * LW;
      for (int u = 0; u < full; u++) _mm256_storeu_ps(dst + u * LANES, _mm256_loadu_ps(src + u * LANES));
      if (masked) _mm256_maskstore_ps(dst + full * LANES, mlast, _mm256_maskload_ps(src + full * LANES, mlast));
    }
    const float *q = Qp;
    if (!transposed) {
      for (ptrdiff_t r = 0; r < R; r++) {
        row(masked, off + r * K, val + r * K, cnt[r], q, mlast, T);
        float *dst = C + r * L + l0;
        for (int u = 0; u < nvec; u++) {
          const ptrdiff_t n = lw - u * LANES < LANES ? lw - u * LANES : LANES;
          put(dst + u * LANES, _mm256_load_ps(T + u * LANES), add, n);
        }
      }
      continue;
    }
    for (ptrdiff_t r0 = 0; r0 < R; r0 += RB) {
      const ptrdiff_t rb = R - r0 < RB ? R - r0 : RB;
      for (ptrdiff_t r = 0; r < rb; r++) row(masked, off + (r0 + r) * K, val + (r0 + r) * K, cnt[r0 + r], q, mlast, T + r * LW);
      /* Rows past R: zeros that are never written (their lanes are masked off below). */
      for (ptrdiff_t r = rb; r < RB; r++) memset(T + r * LW, 0, (size_t)nvec * LANES * sizeof(float));
      for (int u = 0; u < nvec; u++) {
        __m256 col[8];
        transpose8(T + u * LANES, col);
        const ptrdiff_t n = lw - u * LANES < LANES ? lw - u * LANES : LANES;
        /* col[t] is C's row l0 + 8u + t, columns r0..r0+rb. */
        for (ptrdiff_t t = 0; t < n; t++) put(C + (l0 + u * LANES + t) * R + r0, col[t], add, rb);
      }
    }
  }
  free(off);
  free(val);
  free(cnt);
  free(Qp);
  return 0;
}

TGT int sgemm_zero_skip(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                        float *C, int mode) {
  if (!transA || transB || mode == GEMM_ACCUMULATE || M == 0 || N == 0 || K == 0 || M * N * K < MIN_WORK || K > MAX_K)
    return 0;
  /* The smaller operand is the one a ReLU's gradient makes sparse in mm's and Linear's weight gradients. */
  const int pIsB = K * N <= K * M;
  const float *P = pIsB ? B : A;
  const float *Q = pIsB ? A : B;
  const ptrdiff_t R = pIsB ? N : M;
  const ptrdiff_t L = pIsB ? M : N;
  if (K * R > MAX_P) return 0;
  /* Measured on Zen 3: at a quarter zeros this path costs what the dense one does; a ReLU gradient has about half. */
  if (count_zeros(P, K * R) * 3 < K * R) return 0;
  if (!all_finite(Q, K * L)) return 0;
  /* Without memory for the lists the dense kernel does the product. */
  if (skip_zeros(P, Q, K, R, L, C, pIsB, mode == GEMM_ACCUMULATE_ROUNDED) != 0) return 0;
  __atomic_fetch_add(&taken, 1, __ATOMIC_RELAXED);
  return 1;
}
#endif
