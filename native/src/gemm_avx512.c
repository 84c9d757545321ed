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

#define TGT __attribute__((target("avx512f")))
#define AI __attribute__((always_inline)) inline

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

typedef __mmask16 mask_t;
static inline mask_t make_mask(int rem) { return rem ? (mask_t)((1u << rem) - 1) : (mask_t)0xFFFF; }
#include "gemm_driver.h"

TGT int sgemm_avx512(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                     float *C, int mode) {
  return drive(transA, transB, M, N, K, A, B, C, mode);
}
#endif
