/*
 * AVX-512F sgemm (x86-64, selected at run time): an MR x (16*NV) register tile of accumulators, columns in zmm
 * lanes, A elements broadcast. Each lane is one C element doing acc = acc + a*b with vmulps + vaddps (no FMA), k in
 * order; a K block stores its partial sums and the next block reloads them, which keeps that order exactly.
 * Zen 4 has two FADD pipes beside the two FMUL/FMA pipes, so mul+add reaches the FMA peak given enough independent
 * accumulators (24 here, for an add latency of 3).
 */
#include "gemm.h"
#if defined(GRADLOOM_X86) && defined(__GNUC__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TGT __attribute__((target("avx512f,avx512vl")))
#define AI __attribute__((always_inline)) inline

/* KC: 128 to 1024 measured within 3% of each other on the tutorial's shapes; 256 keeps the packed panel at 48 KiB. */
enum { MR = 8, NV = 3, NR = 16 * NV, KC = 256, LANES = 16 };

typedef void (*ukr_fn)(ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *b, ptrdiff_t ldb,
                       const float *cin, float *cout, ptrdiff_t ldc, int addout, __mmask16 mlast);

/*
 * b * broadcast(*p), rounded (vmulps). Written as an embedded-broadcast memory operand: on Zen 4 a separate
 * vbroadcastss zmm takes an FP pipe slot, which measured 88 instead of 117 GFLOP/s in a register-only loop, and GCC
 * merges repeated _mm512_set1_ps loads into one such broadcast.
 */
static AI TGT __m512 mul_bcast(__m512 b, const float *p) {
#if defined(__GNUC__)
  __m512 r;
  __asm__("vmulps %1%{1to16%}, %2, %0" : "=v"(r) : "m"(*p), "v"(b));
  return r;
#else
  return _mm512_mul_ps(b, _mm512_set1_ps(*p));
#endif
}

/* Every (row, vector) pair of the largest tile; a smaller tile's unused pairs fold away at compile time. */
#define FOR_RV(X)                                                                                                    \
  X(0, 0) X(0, 1) X(0, 2) X(1, 0) X(1, 1) X(1, 2) X(2, 0) X(2, 1) X(2, 2) X(3, 0) X(3, 1) X(3, 2) X(4, 0) X(4, 1)   \
  X(4, 2) X(5, 0) X(5, 1) X(5, 2) X(6, 0) X(6, 1) X(6, 2) X(7, 0) X(7, 1) X(7, 2)
#define FOR_R(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define FOR_V(X) X(0) X(1) X(2)

/*
 * One tile: acc = cin ? cin : +0; for k < kc: acc += a(r,k) * b(k, v); then cout = addout ? cout + acc : acc.
 * a(r,k) is a[r*rs + k] (TA = 0) or a[r + k*ks] (TA = 1); the last vector of a row uses the lane mask `mlast`
 * (masked loads never touch memory outside the mask). Accumulators are named variables, not an array: GCC keeps an
 * array of 24 zmm on the stack and stores it back every iteration.
 */
static AI TGT void tile(const int mr, const int nv, const int ta, ptrdiff_t kc, const float *a, ptrdiff_t rs,
                        ptrdiff_t ks, const float *b, ptrdiff_t ldb, const float *cin, float *cout, ptrdiff_t ldc,
                        int addout, __mmask16 mlast) {
#define MASK(v) ((v) == nv - 1 ? mlast : (__mmask16)0xFFFF)
#define USED(r, v) ((r) < mr && (v) < nv)
#define DECL(r, v) __m512 c##r##v = _mm512_setzero_ps();
  FOR_RV(DECL)
  if (cin) {
#define INIT(r, v) if (USED(r, v)) c##r##v = _mm512_maskz_loadu_ps(MASK(v), cin + (r) * ldc + (v) * LANES);
    FOR_RV(INIT)
  }
#define ROWP(r) const float *a##r = ta ? a + (r) : a + (r) * rs;
  FOR_R(ROWP)
  const ptrdiff_t astep = ta ? ks : 1;
  for (ptrdiff_t k = 0; k < kc; k++) {
#define LOADB(v) const __m512 b##v = (v) < nv ? _mm512_maskz_loadu_ps(MASK(v), b + (v) * LANES) : _mm512_setzero_ps();
    FOR_V(LOADB)
#define ROW(r)                                                                                                       \
  if ((r) < mr) {                                                                                                    \
    const float *ap = ta ? a0 + (r) + k * astep : a##r + k;                                                          \
    if (nv > 0) c##r##0 = _mm512_add_ps(c##r##0, mul_bcast(b0, ap));                                                 \
    if (nv > 1) c##r##1 = _mm512_add_ps(c##r##1, mul_bcast(b1, ap));                                                 \
    if (nv > 2) c##r##2 = _mm512_add_ps(c##r##2, mul_bcast(b2, ap));                                                 \
  }
    FOR_R(ROW)
    b += ldb;
  }
#define STORE(r, v)                                                                                                  \
  if (USED(r, v)) {                                                                                                  \
    float *p = cout + (r) * ldc + (v) * LANES;                                                                       \
    __m512 x = c##r##v;                                                                                              \
    if (addout) x = _mm512_add_ps(_mm512_maskz_loadu_ps(MASK(v), p), x);                                             \
    _mm512_mask_storeu_ps(p, MASK(v), x);                                                                            \
  }
  FOR_RV(STORE)
#undef MASK
#undef USED
#undef DECL
#undef INIT
#undef ROWP
#undef LOADB
#undef ROW
#undef STORE
  (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7;
}

#define UKR(mr, nv, ta)                                                                                              \
  static TGT __attribute__((noinline)) void ukr_##mr##_##nv##_##ta(                                                  \
      ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *b, ptrdiff_t ldb, const float *cin,    \
      float *cout, ptrdiff_t ldc, int addout, __mmask16 mlast) {                                                     \
    tile(mr, nv, ta, kc, a, rs, ks, b, ldb, cin, cout, ldc, addout, mlast);                                          \
  }
#define UKR_NV(mr, ta) UKR(mr, 1, ta) UKR(mr, 2, ta) UKR(mr, 3, ta)
#define UKR_ALL(ta) UKR_NV(1, ta) UKR_NV(2, ta) UKR_NV(3, ta) UKR_NV(4, ta) UKR_NV(5, ta) UKR_NV(6, ta) UKR_NV(7, ta) UKR_NV(8, ta)
UKR_ALL(0)
UKR_ALL(1)
#define TROW(mr, ta) {ukr_##mr##_1_##ta, ukr_##mr##_2_##ta, ukr_##mr##_3_##ta}
static const ukr_fn TABLE[2][MR][NV] = {
    {TROW(1, 0), TROW(2, 0), TROW(3, 0), TROW(4, 0), TROW(5, 0), TROW(6, 0), TROW(7, 0), TROW(8, 0)},
    {TROW(1, 1), TROW(2, 1), TROW(3, 1), TROW(4, 1), TROW(5, 1), TROW(6, 1), TROW(7, 1), TROW(8, 1)},
};

/*
 * The right-edge panel when it is at most 8 columns wide (N = 100 leaves 4): one ymm per row instead of a masked zmm.
 * Zen 4 runs a ymm op in half the pipe time of a zmm op, and this panel would otherwise cost as much as a full
 * 16-column vector. Same arithmetic: cin or +0, k in order, vmulps (embedded broadcast) + vaddps.
 */
static AI TGT __m256 mul_bcast8(__m256 b, const float *p) {
#if defined(__GNUC__)
  __m256 r;
  __asm__("vmulps %1%{1to8%}, %2, %0" : "=v"(r) : "m"(*p), "v"(b));
  return r;
#else
  return _mm256_mul_ps(b, _mm256_set1_ps(*p));
#endif
}

static AI TGT void tile8(const int mr, const int ta, ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks,
                         const float *b, ptrdiff_t ldb, const float *cin, float *cout, ptrdiff_t ldc, int addout,
                         __mmask16 mlast) {
  const __mmask8 m = (__mmask8)mlast;
#define DECL8(r) __m256 c##r = _mm256_setzero_ps();
  FOR_R(DECL8)
  if (cin) {
#define INIT8(r) if ((r) < mr) c##r = _mm256_maskz_loadu_ps(m, cin + (r) * ldc);
    FOR_R(INIT8)
  }
#define ROWP8(r) const float *a##r = ta ? a + (r) : a + (r) * rs;
  FOR_R(ROWP8)
  const ptrdiff_t astep = ta ? ks : 1;
  for (ptrdiff_t k = 0; k < kc; k++) {
    const __m256 bv = _mm256_maskz_loadu_ps(m, b);
#define ROW8(r) if ((r) < mr) c##r = _mm256_add_ps(c##r, mul_bcast8(bv, ta ? a0 + (r) + k * astep : a##r + k));
    FOR_R(ROW8)
    b += ldb;
  }
#define STORE8(r)                                                                                                    \
  if ((r) < mr) {                                                                                                    \
    float *p = cout + (r) * ldc;                                                                                     \
    __m256 x = c##r;                                                                                                 \
    if (addout) x = _mm256_add_ps(_mm256_maskz_loadu_ps(m, p), x);                                                   \
    _mm256_mask_storeu_ps(p, m, x);                                                                                  \
  }
  FOR_R(STORE8)
#undef DECL8
#undef INIT8
#undef ROWP8
#undef ROW8
#undef STORE8
  (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7;
}

#define UKR8(mr, ta)                                                                                                 \
  static TGT __attribute__((noinline)) void ukr8_##mr##_##ta(                                                        \
      ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *b, ptrdiff_t ldb, const float *cin,    \
      float *cout, ptrdiff_t ldc, int addout, __mmask16 mlast) {                                                     \
    tile8(mr, ta, kc, a, rs, ks, b, ldb, cin, cout, ldc, addout, mlast);                                             \
  }
#define UKR8_ALL(ta) UKR8(1, ta) UKR8(2, ta) UKR8(3, ta) UKR8(4, ta) UKR8(5, ta) UKR8(6, ta) UKR8(7, ta) UKR8(8, ta)
UKR8_ALL(0)
UKR8_ALL(1)
#define NARROW_LANES 8
static const ukr_fn NARROW_TABLE[2][MR] = {
    {ukr8_1_0, ukr8_2_0, ukr8_3_0, ukr8_4_0, ukr8_5_0, ukr8_6_0, ukr8_7_0, ukr8_8_0},
    {ukr8_1_1, ukr8_2_1, ukr8_3_1, ukr8_4_1, ukr8_5_1, ukr8_6_1, ukr8_7_1, ukr8_8_1},
};

typedef __mmask16 mask_t;
static inline mask_t make_mask(int rem) { return rem ? (mask_t)((1u << rem) - 1) : (mask_t)0xFFFF; }
#include "gemm_driver.h"

TGT int sgemm_avx512(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                     float *C, int mode) {
  if (sgemm_zero_skip(transA, transB, M, N, K, A, B, C, mode)) return 0;
  return drive(transA, transB, M, N, K, A, B, C, mode);
}
#endif
