/*
 * AVX2 sgemm (x86-64 without AVX-512, selected at run time): the AVX-512 kernel's scheme (see gemm_avx512.c) with
 * ymm registers. Sixteen registers hold a 6 x 16 tile (12 accumulators), two B vectors, the broadcast A element and
 * one product. vmulps + vaddps, never FMA: the arithmetic is the contract of gemm.h.
 */
#include "gemm.h"
#if defined(GRADLOOM_X86) && defined(__GNUC__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TGT __attribute__((target("avx2")))
#define AI __attribute__((always_inline)) inline

enum { MR = 6, NV = 2, LANES = 8, NR = LANES * NV, KC = 256 };

typedef void (*ukr_fn)(ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *b, ptrdiff_t ldb,
                       const float *cin, float *cout, ptrdiff_t ldc, int addout, __m256i mlast);

#define FOR_RV(X) X(0, 0) X(0, 1) X(1, 0) X(1, 1) X(2, 0) X(2, 1) X(3, 0) X(3, 1) X(4, 0) X(4, 1) X(5, 0) X(5, 1)
#define FOR_R(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define FOR_V(X) X(0) X(1)

/* Masked lanes are neither read nor written (vmaskmovps suppresses their faults). */
static AI TGT __m256 load(const float *p, int full, __m256i m) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
static AI TGT void store(float *p, int full, __m256i m, __m256 x) {
  if (full) _mm256_storeu_ps(p, x);
  else _mm256_maskstore_ps(p, m, x);
}

/* One tile, exactly as gemm_avx512.c's `tile` (cin or +0, k in order, then store or add into cout). */
static AI TGT void tile(const int mr, const int nv, const int ta, const int masked, ptrdiff_t kc, const float *a, ptrdiff_t rs,
                        ptrdiff_t ks, const float *b, ptrdiff_t ldb, const float *cin, float *cout, ptrdiff_t ldc,
                        int addout, __m256i mlast) {
#define FULL(v) (!masked || (v) != nv - 1)
#define USED(r, v) ((r) < mr && (v) < nv)
#define DECL(r, v) __m256 c##r##v = _mm256_setzero_ps();
  FOR_RV(DECL)
  if (cin) {
#define INIT(r, v) if (USED(r, v)) c##r##v = load(cin + (r) * ldc + (v) * LANES, FULL(v), mlast);
    FOR_RV(INIT)
  }
#define ROWP(r) const float *a##r = ta ? a + (r) : a + (r) * rs;
  FOR_R(ROWP)
  const ptrdiff_t astep = ta ? ks : 1;
#define LOADB(v) const __m256 b##v = (v) < nv ? load(b + (v) * LANES, FULL(v), mlast) : _mm256_setzero_ps();
#define ROW(r)                                                                                                       \
  if ((r) < mr) {                                                                                                    \
    const __m256 av = _mm256_broadcast_ss(ta ? a0 + (r) + k * astep : a##r + k);                                     \
    if (nv > 0) c##r##0 = _mm256_add_ps(c##r##0, _mm256_mul_ps(av, b0));                                             \
    if (nv > 1) c##r##1 = _mm256_add_ps(c##r##1, _mm256_mul_ps(av, b1));                                             \
  }
  /* Unrolled (fewer loop instructions per k: the mul+add pairs keep the 6-wide front end nearly full); measured on
     Zen 3, 4 suits A read by rows, 2 the transposed A (whose addressing needs more registers). */
  if (ta) {
#pragma GCC unroll 2
    for (ptrdiff_t k = 0; k < kc; k++) {
      FOR_V(LOADB)
      FOR_R(ROW)
      b += ldb;
    }
  } else {
#pragma GCC unroll 4
    for (ptrdiff_t k = 0; k < kc; k++) {
      FOR_V(LOADB)
      FOR_R(ROW)
      b += ldb;
    }
  }
#define STORE(r, v)                                                                                                  \
  if (USED(r, v)) {                                                                                                  \
    float *p = cout + (r) * ldc + (v) * LANES;                                                                       \
    __m256 x = c##r##v;                                                                                              \
    if (addout) x = _mm256_add_ps(load(p, FULL(v), mlast), x);                                                       \
    store(p, FULL(v), mlast, x);                                                                                     \
  }
  FOR_RV(STORE)
#undef FULL
#undef USED
#undef DECL
#undef INIT
#undef ROWP
#undef LOADB
#undef ROW
#undef STORE
  (void)a1; (void)a2; (void)a3; (void)a4; (void)a5;
}

#define UKR(mr, nv, ta)                                                                                              \
  static TGT __attribute__((noinline)) void ukr_##mr##_##nv##_##ta(                                                  \
      ptrdiff_t kc, const float *a, ptrdiff_t rs, ptrdiff_t ks, const float *b, ptrdiff_t ldb, const float *cin,    \
      float *cout, ptrdiff_t ldc, int addout, __m256i mlast) {                                                       \
    /* A full last vector (mlast all ones) takes plain loads and stores: vmaskmovps costs more, and its mask    \
       would need a 17th register. */                                                                               \
    if (_mm256_movemask_ps(_mm256_castsi256_ps(mlast)) == 0xff)                                                      \
      tile(mr, nv, ta, 0, kc, a, rs, ks, b, ldb, cin, cout, ldc, addout, mlast);                                     \
    else                                                                                                             \
      tile(mr, nv, ta, 1, kc, a, rs, ks, b, ldb, cin, cout, ldc, addout, mlast);                                     \
  }
#define UKR_NV(mr, ta) UKR(mr, 1, ta) UKR(mr, 2, ta)
#define UKR_ALL(ta) UKR_NV(1, ta) UKR_NV(2, ta) UKR_NV(3, ta) UKR_NV(4, ta) UKR_NV(5, ta) UKR_NV(6, ta)
UKR_ALL(0)
UKR_ALL(1)
#define TROW(mr, ta) {ukr_##mr##_1_##ta, ukr_##mr##_2_##ta}
static const ukr_fn TABLE[2][MR][NV] = {
    {TROW(1, 0), TROW(2, 0), TROW(3, 0), TROW(4, 0), TROW(5, 0), TROW(6, 0)},
    {TROW(1, 1), TROW(2, 1), TROW(3, 1), TROW(4, 1), TROW(5, 1), TROW(6, 1)},
};

typedef __m256i mask_t;
static TGT mask_t make_mask(int rem) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return rem ? _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane) : _mm256_set1_epi32(-1);
}
/* B is packed for tall products too (M >= 256, e.g. xT.g at M = 1000: each panel then serves 167 row blocks); read
   in place, a panel of N = 100 strides 400 B per row. Measured on Zen 3: xT.g 53 -> 62 GFLOP/s; for M = 64 packing
   costs more than it saves (60 vs 54). */
#define PACK_MIN_M 256
/* And B whose rows are not whole cache lines apart (N = 100: a 16-float row segment then spans two lines, and a
   256-row panel read in place no longer fits L1). Measured on Zen 3: x.w1 (64x100x1000) 195-205 -> 182-190 us. */
#define PACK_UNALIGNED 1
#include "gemm_driver.h"

TGT int sgemm_avx2(int transA, int transB, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, const float *B,
                   float *C, int mode) {
  if (sgemm_zero_skip(transA, transB, M, N, K, A, B, C, mode)) return 0;
  return drive(transA, transB, M, N, K, A, B, C, mode);
}
#endif
