/**
 * Fused multiply-add rounded once to float32: `fmaf(a, b, c)` = float32(a * b + c) computed exactly, for float32
 * inputs. PyTorch's x86-64 kernels are compiled with FMA contraction (and use explicit fmadd in vectorised
 * paths), so `x * alpha + y` in its uniform_, normal_, add_(alpha=) and addcmul_ is one rounding, not two;
 * matching its numbers to the bit needs the same here.
 *
 * a*b is exact in double (24 + 24 significant bits); the sum is then rounded to double and to float. That double
 * rounding can only differ from a single rounding when the double sum lands exactly on a midpoint between two
 * floats; only then is the (exact, TwoSum) error of the addition consulted to pick the side.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = Math.fround(s);
  if (r === s) return r;
  // s is a midpoint exactly when its mirror image around s, 2s - r (computed exactly: Sterbenz), is a float.
  const other = 2 * s - r;
  if (Math.fround(other) !== other || !Number.isFinite(r)) return r;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0) return r; // a true tie: Math.fround already rounded it to even
  return (other > r) === err > 0 ? other : r;
}
