/**
 * WebAssembly text of the zero-skipping C = Aᵀ·B (host side: src/engine/kernels/wasm-zero-skip.ts), in the same
 * module as the sgemm. The native addon's native/src/gemm_zero_skip.c explains why it gives the dense kernel's bits:
 * every sum starts from +0 and takes its terms in k order; a sum that starts from +0 is never -0, so a term that is
 * ±0 leaves it unchanged, and terms whose sparse factor is ±0 can be dropped as long as the other operand is finite
 * (the host checks that with `zs_finite`). NaN is not a zero: it stays in the sum.
 *
 * Work: the sparse operand P ([K × R] in memory) becomes per-row lists of its nonzeros (`zs_lists`: 8-byte entries,
 * the byte offset of row k in the packed block of Q, then the value); a block of LW = nv*4 columns of the dense
 * operand Q ([K × L]) is packed contiguously (rows L*4 bytes apart would share few L1 sets), and each output row is
 * the sum over its list of splat(value) * the block's row k, nv vectors at a time, in list (= k) order. When P is B
 * the rows are C's columns: four rows at a time are transposed (4×4 shuffles) on the way out. With `add` the result is
 * C + sum (accumulate-rounded: C's old values are already in place), like the dense path's final `ew_add`.
 * The multiply-add is the dense kernel's: f32x4.mul then f32x4.add, or f32x4.relaxed_madd in the relaxed module (its
 * operands commute, and V8 lowers it the same way in both functions).
 */

/** Vectors per block row: 12 accumulators + the splat + a loaded vector fit x64's 16 xmm registers (TurboFan keeps them all
 * in registers; measured on xᵀ·g, 1000×100×64: 12 beat 8). */
export const ZERO_SKIP_NV = 12;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Count of the n floats at $p that are ±0 (f32x4.eq against 0: NaN is not counted). */
function zerosFunc(): string {
  return `(func $zs_zeros (export "zs_zeros") (param $p i32) (param $n i32) (result i32)
  (local $i i32) (local $vb i32) (local $nb i32) (local $acc v128) (local $z i32)
  (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
  (local.set $vb (i32.and (local.get $nb) (i32.const -16)))
  (block $vd (loop $vl
    (br_if $vd (i32.ge_u (local.get $i) (local.get $vb)))
    (local.set $acc (i32x4.sub (local.get $acc)
      (f32x4.eq (v128.load align=4 (i32.add (local.get $p) (local.get $i))) (v128.const i32x4 0 0 0 0))))
    (local.set $i (i32.add (local.get $i) (i32.const 16)))
    (br $vl)))
  (local.set $z (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
    (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
  (block $sd (loop $sl
    (br_if $sd (i32.ge_u (local.get $i) (local.get $nb)))
    (local.set $z (i32.add (local.get $z) (f32.eq (f32.load align=4 (i32.add (local.get $p) (local.get $i))) (f32.const 0))))
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $sl)))
  (local.get $z)
)`;
}

/** 1 when none of the n floats at $p is Inf or NaN (exponent bits all ones), else 0. */
function finiteFunc(): string {
  return `(func $zs_finite (export "zs_finite") (param $p i32) (param $n i32) (result i32)
  (local $i i32) (local $vb i32) (local $nb i32) (local $bad v128)
  (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
  (local.set $vb (i32.and (local.get $nb) (i32.const -16)))
  (block $vd (loop $vl
    (br_if $vd (i32.ge_u (local.get $i) (local.get $vb)))
    (local.set $bad (v128.or (local.get $bad) (i32x4.eq
      (v128.and (v128.load align=4 (i32.add (local.get $p) (local.get $i))) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
      (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
    (local.set $i (i32.add (local.get $i) (i32.const 16)))
    (br $vl)))
  (if (v128.any_true (local.get $bad)) (then (return (i32.const 0))))
  (block $sd (loop $sl
    (br_if $sd (i32.ge_u (local.get $i) (local.get $nb)))
    (if (i32.eq (i32.and (i32.load align=4 (i32.add (local.get $p) (local.get $i))) (i32.const 0x7f800000)) (i32.const 0x7f800000))
      (then (return (i32.const 0))))
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $sl)))
  (i32.const 1)
)`;
}

/**
 * Row r's list at $list + r*K*8: for k in order, the entry (k*$stride, P[k][r]) of every nonzero P[k][r]; its length
 * at $cnt + r*4. Branch-free: each entry is written at the next slot, which only a nonzero then claims.
 */
function listsFunc(): string {
  return `(func $zs_lists (export "zs_lists") (param $pp i32) (param $K i32) (param $R i32) (param $list i32) (param $cnt i32) (param $stride i32)
  (local $r i32) (local $k i32) (local $o i32) (local $c i32) (local $src i32) (local $v f32)
  (block $rd (loop $rl
    (br_if $rd (i32.ge_s (local.get $r) (local.get $R)))
    (local.set $o (i32.add (local.get $list) (i32.shl (i32.mul (local.get $r) (local.get $K)) (i32.const 3))))
    (local.set $src (i32.add (local.get $pp) (i32.shl (local.get $r) (i32.const 2))))
    (local.set $c (local.get $o))
    (local.set $k (i32.const 0))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_s (local.get $k) (local.get $K)))
      (local.set $v (f32.load align=4 (local.get $src)))
      (i32.store align=4 (local.get $c) (i32.mul (local.get $k) (local.get $stride)))
      (f32.store offset=4 align=4 (local.get $c) (local.get $v))
      (local.set $c (i32.add (local.get $c) (i32.shl (f32.ne (local.get $v) (f32.const 0)) (i32.const 3))))
      (local.set $src (i32.add (local.get $src) (i32.shl (local.get $R) (i32.const 2))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl)))
    (i32.store align=4 (i32.add (local.get $cnt) (i32.shl (local.get $r) (i32.const 2)))
      (i32.shr_u (i32.sub (local.get $c) (local.get $o)) (i32.const 3)))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $rl)))
)`;
}

/** $out[0..nv) (16-byte vectors) = sum over the $n entries at $list of splat(value) * the nv vectors at $q + offset. */
function rowFunc(nv: number, relaxed: boolean): string {
  const c = (u: number) => `$c${u}`;
  const lines: string[] = [];
  lines.push(`(func $zs_row${nv} (param $list i32) (param $n i32) (param $q i32) (param $out i32)`);
  lines.push(`  ${range(nv).map((u) => `(local ${c(u)} v128)`).join(' ')} (local $v v128) (local $p i32)`);
  lines.push('  (block $done');
  lines.push('    (br_if $done (i32.eqz (local.get $n)))');
  lines.push('    (loop $l');
  lines.push('      (local.set $p (i32.add (local.get $q) (i32.load align=4 (local.get $list))))');
  lines.push('      (local.set $v (v128.load32_splat offset=4 align=4 (local.get $list)))');
  for (const u of range(nv)) {
    const x = `(v128.load offset=${u * 16} align=4 (local.get $p))`;
    lines.push(
      relaxed
        ? `      (local.set ${c(u)} (f32x4.relaxed_madd (local.get $v) ${x} (local.get ${c(u)})))`
        : `      (local.set ${c(u)} (f32x4.add (local.get ${c(u)}) (f32x4.mul (local.get $v) ${x})))`,
    );
  }
  lines.push('      (local.set $list (i32.add (local.get $list) (i32.const 8)))');
  lines.push('      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))');
  for (const u of range(nv)) lines.push(`  (v128.store offset=${u * 16} (local.get $out) (local.get ${c(u)}))`);
  lines.push(')');
  return lines.join('\n');
}

/** Calls $zs_row<nv> for nv = $nv (1..NV). */
function rowDispatch(NV: number): string {
  const lines = ['(func $zs_row (param $nv i32) (param $list i32) (param $n i32) (param $q i32) (param $out i32)'];
  for (const nv of range(NV).map((u) => u + 1).reverse()) {
    lines.push(`  (if (i32.eq (local.get $nv) (i32.const ${nv})) (then ` +
      `(call $zs_row${nv} (local.get $list) (local.get $n) (local.get $q) (local.get $out)) (return)))`);
  }
  lines.push(')');
  return lines.join('\n');
}

/** C's row segment $dst[0..lw) = $t[0..lw), or $dst + $t with $add. */
function outRowFunc(): string {
  return `(func $zs_out_row (param $t i32) (param $dst i32) (param $lw i32) (param $add i32)
  (local $i i32) (local $vb i32) (local $nb i32) (local $x v128) (local $s f32)
  (local.set $nb (i32.shl (local.get $lw) (i32.const 2)))
  (local.set $vb (i32.and (local.get $nb) (i32.const -16)))
  (block $vd (loop $vl
    (br_if $vd (i32.ge_u (local.get $i) (local.get $vb)))
    (local.set $x (v128.load (i32.add (local.get $t) (local.get $i))))
    (if (local.get $add) (then (local.set $x (f32x4.add (v128.load align=4 (i32.add (local.get $dst) (local.get $i))) (local.get $x)))))
    (v128.store align=4 (i32.add (local.get $dst) (local.get $i)) (local.get $x))
    (local.set $i (i32.add (local.get $i) (i32.const 16)))
    (br $vl)))
  (block $sd (loop $sl
    (br_if $sd (i32.ge_u (local.get $i) (local.get $nb)))
    (local.set $s (f32.load (i32.add (local.get $t) (local.get $i))))
    (if (local.get $add) (then (local.set $s (f32.add (f32.load align=4 (i32.add (local.get $dst) (local.get $i))) (local.get $s)))))
    (f32.store align=4 (i32.add (local.get $dst) (local.get $i)) (local.get $s))
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $sl)))
)`;
}

/**
 * Four rows of sums, $t + r*$tw (r < $rb), are columns $r0..$r0+$rb of C's rows $l0..$l0+$lw (C's rows $ldc bytes
 * apart at $pc): 4×4 blocks are transposed with shuffles and stored (or added) whole, or lane by lane when $rb < 4.
 */
function outTransposedFunc(): string {
  const shuf = (a: string, b: string, lanes: number[]) =>
    `(i8x16.shuffle ${lanes.flatMap((l) => [0, 1, 2, 3].map((b4) => l * 4 + b4)).join(' ')} ${a} ${b})`;
  const store = (t: number) => {
    const col = `(local.get $x${t})`;
    const addr = `(local.get $d)`;
    const lanes = range(4)
      .map((l) => {
        const v = `(f32x4.extract_lane ${l} ${col})`;
        const sum = `(if (result f32) (local.get $add) (then (f32.add (f32.load offset=${l * 4} align=4 ${addr}) ${v})) (else ${v}))`;
        return `(if (i32.gt_s (local.get $rb) (i32.const ${l})) (then (f32.store offset=${l * 4} align=4 ${addr} ${sum})))`;
      })
      .join('\n          ');
    return `      (if (i32.lt_s (i32.add (local.get $j) (i32.const ${t})) (local.get $lw)) (then
        (local.set $d (i32.add (local.get $base) (i32.mul (i32.add (local.get $j) (i32.const ${t})) (local.get $ldc))))
        (if (i32.eq (local.get $rb) (i32.const 4)) (then
          (v128.store align=4 ${addr} (if (result v128) (local.get $add)
            (then (f32x4.add (v128.load align=4 ${addr}) ${col})) (else ${col}))))
        (else
          ${lanes}))))`;
  };
  // Loads T's 4×4 block at column $j and transposes it: $x<t> is C's row segment l0 + j + t.
  const transpose = `    (local.set $p (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 2))))
    (local.set $a0 (v128.load (local.get $p)))
    (local.set $a1 (v128.load (i32.add (local.get $p) (local.get $tw))))
    (local.set $a2 (v128.load (i32.add (local.get $p) (i32.shl (local.get $tw) (i32.const 1)))))
    (local.set $a3 (v128.load (i32.add (local.get $p) (i32.mul (local.get $tw) (i32.const 3)))))
    (local.set $t0 ${shuf('(local.get $a0)', '(local.get $a1)', [0, 4, 1, 5])})
    (local.set $t1 ${shuf('(local.get $a0)', '(local.get $a1)', [2, 6, 3, 7])})
    (local.set $t2 ${shuf('(local.get $a2)', '(local.get $a3)', [0, 4, 1, 5])})
    (local.set $t3 ${shuf('(local.get $a2)', '(local.get $a3)', [2, 6, 3, 7])})
    (local.set $x0 ${shuf('(local.get $t0)', '(local.get $t2)', [0, 1, 4, 5])})
    (local.set $x1 ${shuf('(local.get $t0)', '(local.get $t2)', [2, 3, 6, 7])})
    (local.set $x2 ${shuf('(local.get $t1)', '(local.get $t3)', [0, 1, 4, 5])})
    (local.set $x3 ${shuf('(local.get $t1)', '(local.get $t3)', [2, 3, 6, 7])})`;
  // Whole 4×4 blocks (4 rows of sums, 4 more columns): no per-lane tests; `add` decided once per call.
  const fast = (add: boolean) => `(block $fd${add ? 'a' : 'o'} (loop $fl${add ? 'a' : 'o'}
    (br_if $fd${add ? 'a' : 'o'} (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $lw)))
${transpose}
    (local.set $d (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $ldc))))
${range(4)
  .map((t) => {
    const addr = t === 0 ? '(local.get $d)' : `(i32.add (local.get $d) ${t === 1 ? '(local.get $ldc)' : `(i32.mul (local.get $ldc) (i32.const ${t}))`})`;
    if (!add) return `    (v128.store align=4 ${addr} (local.get $x${t}))`;
    return `    (local.set $p ${addr})\n    (v128.store align=4 (local.get $p) (f32x4.add (v128.load align=4 (local.get $p)) (local.get $x${t})))`;
  })
  .join('\n')}
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $fl${add ? 'a' : 'o'})))`;
  return `(func $zs_out_t (param $t i32) (param $tw i32) (param $pc i32) (param $ldc i32) (param $r0 i32) (param $rb i32) (param $l0 i32) (param $lw i32) (param $add i32)
  (local $j i32) (local $base i32) (local $d i32) (local $p i32)
  (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
  (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
  (local.set $base (i32.add (i32.add (local.get $pc) (i32.mul (local.get $l0) (local.get $ldc))) (i32.shl (local.get $r0) (i32.const 2))))
  (if (i32.eq (local.get $rb) (i32.const 4)) (then
    (if (local.get $add) (then ${fast(true)}) (else ${fast(false)}))))
  ;; The rest (fewer than 4 rows of sums, or the block's last 1 to 3 columns), element by element.
  (block $done (loop $jl
    (br_if $done (i32.ge_s (local.get $j) (local.get $lw)))
${transpose}
${range(4).map(store).join('\n')}
    (local.set $j (i32.add (local.get $j) (i32.const 4)))
    (br $jl)))
)`;
}

/**
 * The product from the lists: P [K × R] (lists at $list, lengths at $cnt, built with stride NV*16), Q [K × L] at $pq,
 * scratch $pqp (K × NV*16 bytes, the packed block) and $pt (4 × NV*16 bytes), C at $pc: [R × L] or, with $trans,
 * [L × R]. $add: C = C + product (C's old values in place), else C = product.
 */
function runFunc(NV: number): string {
  const LWB = NV * 16;
  return `(func $zs_run (export "zs_run") (param $list i32) (param $cnt i32) (param $K i32) (param $R i32) (param $L i32)
    (param $pq i32) (param $pqp i32) (param $pt i32) (param $pc i32) (param $trans i32) (param $add i32)
  (local $l0 i32) (local $lw i32) (local $nv i32) (local $k i32) (local $u i32) (local $src i32) (local $dst i32)
  (local $r i32) (local $r0 i32) (local $rb i32)
  (block $bd (loop $bl
    (br_if $bd (i32.ge_s (local.get $l0) (local.get $L)))
    (local.set $lw (select (i32.const ${NV * 4}) (i32.sub (local.get $L) (local.get $l0))
      (i32.gt_s (i32.sub (local.get $L) (local.get $l0)) (i32.const ${NV * 4}))))
    (local.set $nv (i32.shr_u (i32.add (local.get $lw) (i32.const 3)) (i32.const 2)))
    ;; Pack the block: row k at $pqp + k*${LWB}, nv vectors (a partial last vector reads past the block's edge, into
    ;; the next row or Q's padding: those lanes are never stored).
    (local.set $k (i32.const 0))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_s (local.get $k) (local.get $K)))
      (local.set $src (i32.add (local.get $pq) (i32.shl (i32.add (i32.mul (local.get $k) (local.get $L)) (local.get $l0)) (i32.const 2))))
      (local.set $dst (i32.add (local.get $pqp) (i32.mul (local.get $k) (i32.const ${LWB}))))
      (local.set $u (i32.const 0))
      (block $ud (loop $ul
        (br_if $ud (i32.ge_s (local.get $u) (local.get $nv)))
        (v128.store (local.get $dst) (v128.load align=4 (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $u (i32.add (local.get $u) (i32.const 1)))
        (br $ul)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl)))
    (if (i32.eqz (local.get $trans)) (then
      (local.set $r (i32.const 0))
      (block $rd (loop $rl
        (br_if $rd (i32.ge_s (local.get $r) (local.get $R)))
        (call $zs_row (local.get $nv) (i32.add (local.get $list) (i32.shl (i32.mul (local.get $r) (local.get $K)) (i32.const 3)))
          (i32.load (i32.add (local.get $cnt) (i32.shl (local.get $r) (i32.const 2)))) (local.get $pqp) (local.get $pt))
        (call $zs_out_row (local.get $pt)
          (i32.add (local.get $pc) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $L)) (local.get $l0)) (i32.const 2)))
          (local.get $lw) (local.get $add))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))
    (else
      (local.set $r0 (i32.const 0))
      (block $r0d (loop $r0l
        (br_if $r0d (i32.ge_s (local.get $r0) (local.get $R)))
        (local.set $rb (select (i32.const 4) (i32.sub (local.get $R) (local.get $r0))
          (i32.gt_s (i32.sub (local.get $R) (local.get $r0)) (i32.const 4))))
        (local.set $r (i32.const 0))
        (block $rd (loop $rl
          (br_if $rd (i32.ge_s (local.get $r) (local.get $rb)))
          (call $zs_row (local.get $nv)
            (i32.add (local.get $list) (i32.shl (i32.mul (i32.add (local.get $r0) (local.get $r)) (local.get $K)) (i32.const 3)))
            (i32.load (i32.add (local.get $cnt) (i32.shl (i32.add (local.get $r0) (local.get $r)) (i32.const 2))))
            (local.get $pqp) (i32.add (local.get $pt) (i32.mul (local.get $r) (i32.const ${LWB}))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rl)))
        ;; Rows past $rb in $pt hold stale sums: their lanes are not stored.
        (call $zs_out_t (local.get $pt) (i32.const ${LWB}) (local.get $pc) (i32.shl (local.get $R) (i32.const 2)) (local.get $r0)
          (local.get $rb) (local.get $l0) (local.get $lw) (local.get $add))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
        (br $r0l)))))
    (local.set $l0 (i32.add (local.get $l0) (i32.const ${NV * 4})))
    (br $bl)))
)`;
}

export function zeroSkipWat(relaxed: boolean, NV = ZERO_SKIP_NV): string {
  const parts = [zerosFunc(), finiteFunc(), listsFunc()];
  for (const nv of range(NV)) parts.push(rowFunc(nv + 1, relaxed));
  parts.push(rowDispatch(NV), outRowFunc(), outTransposedFunc(), runFunc(NV));
  return parts.join('\n');
}
