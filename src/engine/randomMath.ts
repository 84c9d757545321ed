/**
 * The float32 arithmetic PyTorch's CPU random kernels actually execute, so `randn` matches bit for bit.
 *
 * PyTorch's x86-64 builds run the AVX2 variant of the random kernels (compiled with -mavx2 -mfma): there
 * `normal_fill` uses avx_mathfun.h's `log256_ps`/`sincos256_ps` (Cephes float polynomials, Giovanni Garberoglio's
 * AVX port of Julien Pommier's sse_mathfun) instead of libm, and the compiler contracts `a * b + c` into fused
 * multiply-adds, also in `uniform_real` (`x * (to - from) + from`). Emulating exactly those float operations,
 * including which products are fused, reproduces every value of the PyTorch fixtures (measured: 0 ulp over the
 * 165,640 values of the two-layer tutorial's x, y, w1, w2). Written from the algorithm's description; the
 * polynomial coefficients are Cephes' published constants.
 */

import { fmaf } from './fmaf.js';

const f32 = Math.fround;
const f32Buf = new Float32Array(1);
const i32Buf = new Int32Array(f32Buf.buffer);

function floatBits(x: number): number {
  f32Buf[0] = x;
  return i32Buf[0]!;
}

function floatFromBits(bits: number): number {
  i32Buf[0] = bits;
  return f32Buf[0]!;
}

const SQRTHF = f32(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);
const MIN_NORM_POS = 1.1754943508222875e-38;
const HALF_BITS = 0x3f000000;

/** log256_ps for one lane: natural log of a float32 x > 0, evaluated as PyTorch's AVX2 build evaluates it. */
export function logAvx(xIn: number): number {
  if (!(xIn > 0)) return xIn === 0 ? -Infinity : NaN; // the lane mask makes x <= 0 NaN; u1 is never 0 here
  let x = xIn < MIN_NORM_POS ? MIN_NORM_POS : xIn;
  const bits = floatBits(x);
  let e = f32((bits >>> 23) - 0x7f + 1);
  x = floatFromBits((bits & ~0x7f800000) | HALF_BITS); // mantissa in [0.5, 1)
  const small = x < SQRTHF;
  x = f32(x - 1);
  if (small) {
    e = f32(e - 1);
    x = f32(x + floatFromBits((bits & ~0x7f800000) | HALF_BITS));
  }
  const z = f32(x * x);
  let y = LOG_P[0]!;
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k]!);
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = fmaf(-z, 0.5, y);
  return fmaf(e, LOG_Q2, f32(x + y));
}

const DP1 = f32(-0.78515625);
const DP2 = f32(-2.4187564849853515625e-4);
const DP3 = f32(-3.77489497744594108e-8);
const SIN_P0 = f32(-1.9515295891e-4);
const SIN_P1 = f32(8.3321608736e-3);
const SIN_P2 = f32(-1.6666654611e-1);
const COS_P0 = f32(2.443315711809948e-5);
const COS_P1 = f32(-1.388731625493765e-3);
const COS_P2 = f32(4.166664568298827e-2);
const FOPI = f32(1.27323954473516); // 4 / pi

/** sincos256_ps for one lane: [sin(x), cos(x)] of a float32 x (Cephes range reduction by pi/4, two polynomials). */
export function sinCosAvx(xIn: number): [number, number] {
  let negSin = xIn < 0;
  let x = Math.abs(xIn);
  let j = Math.trunc(f32(x * FOPI)) | 0;
  j = (j + 1) & ~1;
  const y = j;
  if (j & 4) negSin = !negSin;
  const sinPoly = (j & 2) === 0; // which polynomial gives the sine (the other gives the cosine)
  const negCos = (~(j - 2) & 4) !== 0;
  x = fmaf(y, DP1, x);
  x = fmaf(y, DP2, x);
  x = fmaf(y, DP3, x);
  const z = f32(x * x);
  let c = COS_P0;
  c = fmaf(c, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = f32(c * z);
  c = fmaf(c, z, -f32(z * 0.5));
  c = f32(c + 1);
  let s = SIN_P0;
  s = fmaf(s, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = f32(s * z);
  s = fmaf(s, x, x);
  let sin = sinPoly ? s : c;
  let cos = sinPoly ? c : s;
  if (negSin) sin = -sin;
  if (negCos) cos = -cos;
  return [sin, cos];
}
