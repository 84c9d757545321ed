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

/* Math.max / Math.min: NaN if either is NaN; of two zeros, max prefers +0 and min -0. */
static inline double js_max(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}
static inline double js_min(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}

void ew_clamp(const float *a, float *out, size_t n, double lo, double hi) {
  if (isinf(hi) && hi > 0)
    for (size_t i = 0; i < n; i++) out[i] = (float)js_max(a[i], lo);
  else
    for (size_t i = 0; i < n; i++) out[i] = (float)js_min(js_max(a[i], lo), hi);
}

void ew_clamp_backward(const float *x, const float *g, float *out, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) out[i] = (double)x[i] >= lo && (double)x[i] <= hi ? g[i] : 0.0f;
}
