/**
 * WebAssembly text of the elementwise kernels that live in the same module as the sgemm (one memory, one scratch).
 *
 * Why: JavaScript computes Float32Array arithmetic one element at a time through float64 conversions (about 1 to
 * 2 ns per element measured here); f32x4 does four at once, so even with the operands copied in and out of wasm
 * memory the large elementwise ops (SGD updates, gradient accumulation, clamp) are several times faster.
 *
 * Results are bit-identical to the JavaScript loops they replace: + - * / in f32 are correctly rounded, exactly
 * what JS's float64 operation followed by a Float32Array store gives; `axpy` (x + alpha*y with any alpha) is computed
 * in f64x2 like JS and rounded once; min/max propagate NaN like Math.min/Math.max.
 * All functions take byte addresses and an element count n; a vector loop over 4 elements is followed by a scalar tail.
 */

/** A loop over n elements: `vec(i)`/`scal(i)` are expressions storing one vector/element at byte index $i. */
function loop(name: string, params: string, vec: string, scal: string, vecLocals = ''): string {
  return `(func $${name} (export "${name}") ${params}
  (local $i i32) (local $nb i32) (local $vb i32)${vecLocals}
  (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
  (local.set $vb (i32.and (local.get $nb) (i32.const -16)))
  (block $vd (loop $vl
    (br_if $vd (i32.ge_u (local.get $i) (local.get $vb)))
    ${vec}
    (local.set $i (i32.add (local.get $i) (i32.const 16)))
    (br $vl)))
  (block $sd (loop $sl
    (br_if $sd (i32.ge_u (local.get $i) (local.get $nb)))
    ${scal}
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $sl)))
)`;
}

const at = (p: string) => `(i32.add (local.get ${p}) (local.get $i))`;
const vload = (p: string) => `(v128.load align=4 ${at(p)})`;
const fload = (p: string) => `(f32.load align=4 ${at(p)})`;

const BIN = ['add', 'sub', 'mul', 'div'] as const;

export function elementwiseWat(): string {
  const out: string[] = [];
  // out = a (op) b
  for (const op of BIN) {
    out.push(
      loop(
        `ew_${op}`,
        '(param $pa i32) (param $pb i32) (param $po i32) (param $n i32)',
        `(v128.store align=4 ${at('$po')} (f32x4.${op} ${vload('$pa')} ${vload('$pb')}))`,
        `(f32.store align=4 ${at('$po')} (f32.${op} ${fload('$pa')} ${fload('$pb')}))`,
      ),
    );
  }
  // out = a (op) s, and out = s (op) a ("r" variants)
  for (const op of BIN) {
    for (const left of [false, true]) {
      const v = left ? `(local.get $sv) ${vload('$pa')}` : `${vload('$pa')} (local.get $sv)`;
      const f = left ? `(local.get $s) ${fload('$pa')}` : `${fload('$pa')} (local.get $s)`;
      out.push(
        loop(
          `ews_${left ? 'r' : ''}${op}`,
          '(param $pa i32) (param $s f32) (param $po i32) (param $n i32)',
          `(v128.store align=4 ${at('$po')} (f32x4.${op} ${v}))`,
          `(f32.store align=4 ${at('$po')} (f32.${op} ${f}))`,
          ' (local $sv v128)',
        ).replace('(local.set $nb', '(local.set $sv (f32x4.splat (local.get $s)))\n  (local.set $nb'),
      );
    }
  }
  // x = x + alpha*y, in f64 like JavaScript (alpha*y is exact in f64; one rounding to f64, one to f32).
  const half = (lo: boolean) =>
    `(f64x2.add (f64x2.promote_low_f32x4 ${lo ? '(local.get $xv)' : '(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xv) (local.get $xv))'}) ` +
    `(f64x2.mul (local.get $av) (f64x2.promote_low_f32x4 ${lo ? '(local.get $yv)' : '(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $yv) (local.get $yv))'})))`;
  out.push(
    loop(
      'axpy',
      '(param $px i32) (param $py i32) (param $n i32) (param $alpha f64)',
      `(local.set $xv ${vload('$px')}) (local.set $yv ${vload('$py')})
    (v128.store align=4 ${at('$px')} (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero ${half(true)}) (f32x4.demote_f64x2_zero ${half(false)})))`,
      `(f32.store align=4 ${at('$px')} (f32.demote_f64 (f64.add (f64.promote_f32 ${fload('$px')}) (f64.mul (local.get $alpha) (f64.promote_f32 ${fload('$py')})))))`,
      ' (local $xv v128) (local $yv v128) (local $av v128)',
    ).replace('(local.set $nb', '(local.set $av (f64x2.splat (local.get $alpha)))\n  (local.set $nb'),
  );
  // clamp: out = min(max(a, lo), hi); NaN stays NaN.
  out.push(
    loop(
      'clamp',
      '(param $pa i32) (param $po i32) (param $n i32) (param $lo f32) (param $hi f32)',
      `(v128.store align=4 ${at('$po')} (f32x4.min (f32x4.max ${vload('$pa')} (local.get $lov)) (local.get $hiv)))`,
      `(f32.store align=4 ${at('$po')} (f32.min (f32.max ${fload('$pa')} (local.get $lo)) (local.get $hi)))`,
      ' (local $lov v128) (local $hiv v128)',
    ).replace(
      '(local.set $nb',
      '(local.set $lov (f32x4.splat (local.get $lo))) (local.set $hiv (f32x4.splat (local.get $hi)))\n  (local.set $nb',
    ),
  );
  // clamp's gradient: g where lo <= x <= hi (bounds included), else 0 (NaN x gives 0, a NaN g passes).
  out.push(
    loop(
      'clamp_bwd',
      '(param $px i32) (param $pg i32) (param $po i32) (param $n i32) (param $lo f32) (param $hi f32)',
      `(local.set $xv ${vload('$px')})
    (v128.store align=4 ${at('$po')} (v128.and ${vload('$pg')}
      (v128.and (f32x4.ge (local.get $xv) (local.get $lov)) (f32x4.le (local.get $xv) (local.get $hiv)))))`,
      `(local.set $x ${fload('$px')})
    (f32.store align=4 ${at('$po')} (select ${fload('$pg')} (f32.const 0)
      (i32.and (f32.ge (local.get $x) (local.get $lo)) (f32.le (local.get $x) (local.get $hi)))))`,
      ' (local $xv v128) (local $lov v128) (local $hiv v128) (local $x f32)',
    ).replace(
      '(local.set $nb',
      '(local.set $lov (f32x4.splat (local.get $lo))) (local.set $hiv (f32x4.splat (local.get $hi)))\n  (local.set $nb',
    ),
  );
  return out.join('\n');
}
