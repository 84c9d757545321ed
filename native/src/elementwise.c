/* See elementwise.h. Plain loops: the compiler vectorises them for the baseline ISA (SSE2 on x86-64). */
#include "elementwise.h"

#include <math.h>

void ew_binary(int op, const float *a, const float *b, float *out, size_t n) {
  switch (op) {
    case EW_ADD: for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i]; break;
    case EW_SUB: for (size_t i = 0; i < n; i++) out[i] = a[i] - b[i]; break;
    case EW_MUL: for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i]; break;
    default: for (size_t i = 0; i < n; i++) out[i] = a[i] / b[i]; break;
  }
}

void ew_scalar(int op, const float *a, float s, float *out, size_t n, int left) {
  switch (op) {
    case EW_ADD: for (size_t i = 0; i < n; i++) out[i] = a[i] + s; break;
    case EW_MUL: for (size_t i = 0; i < n; i++) out[i] = a[i] * s; break;
    case EW_SUB:
      if (left) for (size_t i = 0; i < n; i++) out[i] = s - a[i];
      else for (size_t i = 0; i < n; i++) out[i] = a[i] - s;
      break;
    default:
      if (left) for (size_t i = 0; i < n; i++) out[i] = s / a[i];
      else for (size_t i = 0; i < n; i++) out[i] = a[i] / s;
      break;
  }
}

void ew_axpy(float *x, const float *y, double alpha, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = (float)((double)x[i] + alpha * (double)y[i]);
}

/*
 * JavaScript compares the float32 x with a double bound b. The same comparisons in float32, so the loops vectorise:
 * x > b  <=>  x > down(b)   and   x <= b  <=>  x <= down(b)   (down: the largest float <= b)
 * x >= b <=>  x >= up(b)    and   x < b   <=>  x < up(b)      (up: the smallest float >= b)
 * as no float lies strictly between down(b) and b, or between b and up(b). NaN compares false either way.
 */
static float down(double b) {
  float f = (float)b;
  return (double)f > b ? nextafterf(f, -INFINITY) : f;
}
static float up(double b) {
  float f = (float)b;
  return (double)f < b ? nextafterf(f, INFINITY) : f;
}

/*
 * out = fround(Math.min(Math.max(x, lo), hi)). Per element the result is x, fround(hi) (x kept by the max, then
 * cut by the min), fround(Math.min(lo, hi)) (x cut by the max; a constant) or x itself when x is NaN. Of two zeros
 * Math.max prefers +0 and Math.min -0: a non-strict comparison against lo = -0 keeps x = -0 and x = +0, a strict one
 * against lo = +0 turns -0 into +0 (likewise for hi = +0 / -0); any other bound selects the same value either way.
 * With hi = +Infinity this is the JS loop's Math.max alone (Math.min(m, Infinity) is m).
 */
#define CLAMP_LOOP(KEEP_LO, KEEP_HI)                                                                                 \
  for (size_t i = 0; i < n; i++) {                                                                                   \
    const float x = a[i];                                                                                            \
    const float t = (KEEP_HI) ? x : hf;                                                                              \
    const float u = (KEEP_LO) ? t : cut;                                                                             \
    out[i] = x != x ? x : u;                                                                                         \
  }

static double js_min(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}

void ew_clamp(const float *a, float *out, size_t n, double lo, double hi) {
  if (isnan(lo) || isnan(hi)) {
    for (size_t i = 0; i < n; i++) out[i] = NAN;
    return;
  }
  const float hf = (float)hi;
  const float cut = (float)js_min(lo, hi);
  const int lo_neg_zero = lo == 0 && signbit(lo);
  const int hi_pos_zero = hi == 0 && !signbit(hi);
  const float lo_ge = up(lo), lo_gt = down(lo), hi_le = down(hi), hi_lt = up(hi);
  if (lo_neg_zero) {
    if (hi_pos_zero) CLAMP_LOOP(x >= lo_ge, x <= hi_le) else CLAMP_LOOP(x >= lo_ge, x < hi_lt)
  } else {
    if (hi_pos_zero) CLAMP_LOOP(x > lo_gt, x <= hi_le) else CLAMP_LOOP(x > lo_gt, x < hi_lt)
  }
}

void ew_clamp_backward(const float *x, const float *g, float *out, size_t n, double lo, double hi) {
  const float lo_ge = up(lo), hi_le = down(hi);
  for (size_t i = 0; i < n; i++) {
    const float xv = x[i], gv = g[i]; /* both loaded unconditionally: the select then vectorises */
    out[i] = ((xv >= lo_ge) & (xv <= hi_le)) ? gv : 0.0f;
  }
}
