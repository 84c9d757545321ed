/*
 * Box-Muller on blocks of 16 uniforms, bit-identical to the engine's normalFill16 (src/engine/random.ts), which
 * emulates PyTorch's AVX2 `normal_fill_16`: avx_mathfun's log and sincos (Cephes float polynomials) evaluated
 * lane by lane in float32, with fused multiply-adds exactly where PyTorch's build fuses them (randomMath.ts names
 * each). Every float operation here is a float32 operation (x86-64 SSE: FLT_EVAL_METHOD 0), `-ffp-contract=off`
 * (binding.gyp) keeps a * b + c as two roundings unless written as fmaf, and libm's fmaf rounds once.
 */
#include "random.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
static uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

static const float SQRTHF = 0.707106781186547524f;
static const float LOG_P[9] = {7.0376836292e-2f, -1.151461031e-1f, 1.167699874e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                               -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f};
static const float LOG_Q1 = -2.1219444e-4f;
static const float LOG_Q2 = 0.693359375f;

/* randomMath.ts logAvx */
static float log_avx(float x_in) {
  if (!(x_in > 0)) return x_in == 0 ? -INFINITY : NAN;
  float x = x_in < FLT_MIN ? FLT_MIN : x_in;
  const uint32_t bits = bits_of(x);
  float e = (float)((int32_t)(bits >> 23) - 0x7f + 1);
  const float mantissa = from_bits((bits & ~0x7f800000u) | 0x3f000000u);
  x = mantissa;
  const int small = x < SQRTHF;
  x = x - 1.0f;
  if (small) {
    e = e - 1.0f;
    x = x + mantissa;
  }
  const float z = x * x;
  float y = LOG_P[0];
  for (int k = 1; k < 9; k++) y = fmaf(y, x, LOG_P[k]);
  y = y * x;
  y = fmaf(y, z, e * LOG_Q1);
  y = fmaf(-z, 0.5f, y);
  return fmaf(e, LOG_Q2, x + y);
}

static const float DP1 = -0.78515625f;
static const float DP2 = -2.4187564849853515625e-4f;
static const float DP3 = -3.77489497744594108e-8f;
static const float SIN_P0 = -1.9515295891e-4f;
static const float SIN_P1 = 8.3321608736e-3f;
static const float SIN_P2 = -1.6666654611e-1f;
static const float COS_P0 = 2.443315711809948e-5f;
static const float COS_P1 = -1.388731625493765e-3f;
static const float COS_P2 = 4.166664568298827e-2f;
static const float FOPI = 1.27323954473516f;

/* randomMath.ts sinCosAvx */
static void sincos_avx(float x_in, float *sin_out, float *cos_out) {
  int neg_sin = x_in < 0;
  float x = fabsf(x_in);
  int32_t j = (int32_t)(x * FOPI);
  j = (j + 1) & ~1;
  const float y = (float)j;
  if (j & 4) neg_sin = !neg_sin;
  const int sin_poly = (j & 2) == 0;
  const int neg_cos = (~(j - 2) & 4) != 0;
  x = fmaf(y, DP1, x);
  x = fmaf(y, DP2, x);
  x = fmaf(y, DP3, x);
  const float z = x * x;
  float c = COS_P0;
  c = fmaf(c, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = c * z;
  c = fmaf(c, z, -(z * 0.5f));
  c = c + 1.0f;
  float s = SIN_P0;
  s = fmaf(s, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = s * z;
  s = fmaf(s, x, x);
  float sn = sin_poly ? s : c;
  float cs = sin_poly ? c : s;
  if (neg_sin) sn = -sn;
  if (neg_cos) cs = -cs;
  *sin_out = sn;
  *cos_out = cs;
}

/* float32(2 pi), as PyTorch's _mm256_set1_ps(2.0f * pi<double>) */
static const float TWO_PI_F = 6.28318548202514648f;

void normal_fill16_blocks(float *data, size_t blocks, float mean, float std) {
  for (size_t b = 0; b < blocks; b++) {
    float *d = data + 16 * b;
    for (int j = 0; j < 8; j++) {
      const float u1 = 1.0f - d[j];
      const float u2 = d[j + 8];
      const float radius = sqrtf(-2.0f * log_avx(u1));
      const float theta = TWO_PI_F * u2;
      float sn, cs;
      sincos_avx(theta, &sn, &cs);
      d[j] = fmaf(radius * cs, std, mean);
      d[j + 8] = fmaf(radius * sn, std, mean);
    }
  }
}
