/*
 * Elementwise kernels, bit-identical to the engine's JavaScript loops (src/engine/kernels/elementwise.ts): float
 * + - * / are the float32 results of the double expression JS evaluates (one rounding is exact for these);
 * axpy is computed in double and rounded once; clamp follows Math.max/Math.min (NaN propagates, max(-0, +0) is +0,
 * min(-0, +0) is -0) with the bounds as doubles, as JS compares them.
 * Arrays may alias (out == a); the loops keep JavaScript's ascending order, and no pointer is declared restrict.
 */
#ifndef GRADLOOM_ELEMENTWISE_H
#define GRADLOOM_ELEMENTWISE_H

#include <stddef.h>

enum { EW_ADD = 0, EW_SUB = 1, EW_MUL = 2, EW_DIV = 3 };

void ew_binary(int op, const float *a, const float *b, float *out, size_t n);
/* out = a (op) s, or s (op) a when `left`. */
void ew_scalar(int op, const float *a, float s, float *out, size_t n, int left);
/* x = (float)((double)x + alpha * (double)y). */
void ew_axpy(float *x, const float *y, double alpha, size_t n);
/* out = Math.min(Math.max(a, lo), hi); with hi = +Infinity only the max (as the JS loop does). */
void ew_clamp(const float *a, float *out, size_t n, double lo, double hi);
/* out = lo <= x <= hi ? g : 0. */
void ew_clamp_backward(const float *x, const float *g, float *out, size_t n, double lo, double hi);

#endif
