/**
 * Generates the WebAssembly text of gradloom's SIMD sgemm (see src/engine/kernels/wasm-gemm.ts for the host side).
 *
 * Why generated: a register-blocked micro-kernel is the same few lines repeated for every accumulator, and the edge
 * tiles (fewer rows, fewer columns) are the same kernel with other constants. Writing them by hand invites typos that
 * only show on odd shapes; a generator makes every variant from one template.
 *
 * Layout contract with the host (all addresses in bytes inside the module's own memory):
 *   A element (i, k) at  pa + i*rs + k*ks   (rs = K*4, ks = 4 for A [M×K]; rs = 4, ks = M*4 for transA, A stored [K×M])
 *   B element (k, j) at  pb + k*ldb + j*4  (transB operands are transposed into scratch by `transpose` first)
 *   C element (i, j) at  pc + i*ldc + j*4
 * The kernel may read (never write) up to 12 bytes past the last element of a B row and of a C row, so the host keeps
 * 16 bytes of padding after each region. Lanes read that way only feed lanes that are never stored.
 */

import { elementwiseWat } from './elementwise-wat.js';
import { ZERO_SKIP_NV, zeroSkipWat } from './zero-skip-wat.js';

export interface GemmWatOptions {
  /** Use f32x4.relaxed_madd (fused where the CPU has FMA) instead of f32x4.mul + f32x4.add. */
  relaxed: boolean;
  /** Rows of the main register tile. */
  mr: number;
  /** Vectors (of 4 floats) per row of the main register tile; narrower tiles handle the right edge. */
  nrv: number;
  /** Depth of a K block: a B panel of kc rows stays in L1 while every row tile of A passes over it. */
  kc: number;
  /** Rows of an A block (mc × kc floats kept in L2 across the column strips). */
  mc: number;
  /** K steps per loop iteration (V8's scheduler hoists the loads of an unrolled body and spills: 1 measured best). */
  unroll: number;
}

export const DEFAULT_GEMM_OPTIONS: Omit<GemmWatOptions, 'relaxed'> = { mr: 4, nrv: 2, kc: 256, mc: 128, unroll: 1 };

/**
 * Tiles per variant, measured on 64×1000×100 and its Aᵀ·G (GFLOP/s, Node 20, Zen 4): relaxed 4×8 46/45, 5×8 48/45,
 * 6×8 50/47; plain SIMD 4×8 37/35, 5×8 38/37, 6×8 28/28 (mul+add needs a temporary: 12 accumulators spill).
 */
export const VARIANT_OPTIONS: Record<'simd' | 'relaxed', Omit<GemmWatOptions, 'relaxed'>> = {
  simd: { ...DEFAULT_GEMM_OPTIONS, mr: 5 },
  relaxed: { ...DEFAULT_GEMM_OPTIONS, mr: 6 },
};

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * One micro-kernel: an mr × (nrv*4) tile of C, over kc steps of K. `partial` stores only `nv` (< 4) columns.
 * `ta` picks A's layout: row-major A reads row r at pa + r*rs + k*4, transposed A reads pa + k*ks + r*4 (an immediate
 * offset, so no address arithmetic per row).
 */
function microKernel(o: GemmWatOptions, mr: number, nrv: number, partial: boolean, ta: boolean): string {
  const name = `$k${ta ? 't' : 'n'}_${mr}x${nrv}${partial ? 'p' : ''}`;
  const acc = (r: number, v: number) => `$c${r}_${v}`;
  const lines: string[] = [];
  lines.push(
    `(func ${name} (param $pa i32) (param $rs i32) (param $ks i32) (param $pb i32) (param $ldb i32) ` +
      `(param $pc i32) (param $ldc i32) (param $kc i32) (param $acc i32)${partial ? ' (param $nv i32)' : ''}`,
  );
  for (const r of range(mr)) for (const v of range(nrv)) lines.push(`  (local ${acc(r, v)} v128)`);
  for (const v of range(nrv)) lines.push(`  (local $b${v} v128)`);
  lines.push('  (local $a v128) (local $p i32)');
  for (const r of range(mr)) if (r > 0) lines.push(`  (local $o${r} i32) (local $q${r} i32)`);
  if (!ta) for (const r of range(mr)) if (r > 0) lines.push(`  (local.set $o${r} (i32.mul (local.get $rs) (i32.const ${r})))`);
  // Start from C (accumulate) or from zero.
  lines.push('  (if (local.get $acc) (then');
  for (const r of range(mr)) {
    lines.push(`    (local.set $p (i32.add (local.get $pc) (i32.mul (local.get $ldc) (i32.const ${r}))))`);
    for (const v of range(nrv)) lines.push(`    (local.set ${acc(r, v)} (v128.load offset=${v * 16} align=4 (local.get $p)))`);
  }
  lines.push('  ))');
  // One step of K: every element of A is broadcast once and multiplied into a row of accumulators. No test for
  // zeros: 0 * Inf must stay NaN.
  const step = (u: number, indent: string) => {
    for (const v of range(nrv)) lines.push(`${indent}(local.set $b${v} (v128.load offset=${v * 16} align=4 (local.get $pb)))`);
    for (const r of range(mr)) {
      const addr = ta
        ? `offset=${r * 4} align=4 (local.get $pa)`
        : `offset=${u * 4} align=4 (local.get ${r === 0 ? '$pa' : `$q${r}`})`;
      lines.push(`${indent}(local.set $a (v128.load32_splat ${addr}))`);
      for (const v of range(nrv)) {
        const c = acc(r, v);
        lines.push(
          o.relaxed
            ? `${indent}(local.set ${c} (f32x4.relaxed_madd (local.get $a) (local.get $b${v}) (local.get ${c})))`
            : `${indent}(local.set ${c} (f32x4.add (local.get ${c}) (f32x4.mul (local.get $a) (local.get $b${v}))))`,
        );
      }
    }
    lines.push(`${indent}(local.set $pb (i32.add (local.get $pb) (local.get $ldb)))`);
    if (ta) lines.push(`${indent}(local.set $pa (i32.add (local.get $pa) (local.get $ks)))`);
  };
  const rowPointers = (indent: string) => {
    if (!ta) for (const r of range(mr)) if (r > 0) lines.push(`${indent}(local.set $q${r} (i32.add (local.get $pa) (local.get $o${r})))`);
  };
  const U = o.unroll;
  if (U > 1) {
    lines.push('  (block $kUdone');
    lines.push(`    (br_if $kUdone (i32.lt_u (local.get $kc) (i32.const ${U})))`);
    lines.push('    (loop $kU');
    rowPointers('      ');
    for (const u of range(U)) step(u, '      ');
    if (!ta) lines.push(`      (local.set $pa (i32.add (local.get $pa) (i32.const ${4 * U})))`);
    lines.push(`      (br_if $kU (i32.ge_u (local.tee $kc (i32.sub (local.get $kc) (i32.const ${U}))) (i32.const ${U})))))`);
  }
  lines.push('  (block $k1done');
  lines.push('    (br_if $k1done (i32.eqz (local.get $kc)))');
  lines.push('    (loop $k1');
  rowPointers('      ');
  step(0, '      ');
  if (!ta) lines.push('      (local.set $pa (i32.add (local.get $pa) (i32.const 4)))');
  lines.push('      (br_if $k1 (local.tee $kc (i32.sub (local.get $kc) (i32.const 1))))))');
  // Store the tile.
  for (const r of range(mr)) {
    lines.push(`  (local.set $p (i32.add (local.get $pc) (i32.mul (local.get $ldc) (i32.const ${r}))))`);
    if (!partial) {
      for (const v of range(nrv)) lines.push(`  (v128.store offset=${v * 16} align=4 (local.get $p) (local.get ${acc(r, v)}))`);
    } else {
      lines.push(`  (f32.store align=4 (local.get $p) (f32x4.extract_lane 0 (local.get ${acc(r, 0)})))`);
      for (const l of [1, 2]) {
        lines.push(
          `  (if (i32.gt_u (local.get $nv) (i32.const ${l})) (then ` +
            `(f32.store offset=${l * 4} align=4 (local.get $p) (f32x4.extract_lane ${l} (local.get ${acc(r, 0)})))))`,
        );
      }
    }
  }
  lines.push(')');
  return lines.join('\n');
}

/**
 * All row tiles of one column strip: full mr-row tiles, then one smaller tile for the M % mr leftover rows.
 * `$rows_<nrv>[p]` has the micro-kernel's parameters plus $M (and $nv for the partial strip).
 */
function rowsFunc(o: GemmWatOptions, nrv: number, partial: boolean, ta: boolean): string {
  const suffix = `${nrv}${partial ? 'p' : ''}`;
  const t = ta ? 't' : 'n';
  const nvParam = partial ? ' (param $nv i32)' : '';
  const nvArg = partial ? ' (local.get $nv)' : '';
  const args = (pa: string, pc: string) =>
    `${pa} (local.get $rs) (local.get $ks) (local.get $pb) (local.get $ldb) ${pc} (local.get $ldc) (local.get $kc) (local.get $acc)${nvArg}`;
  const lines: string[] = [];
  lines.push(
    `(func $rows${t}_${suffix} (param $pa i32) (param $rs i32) (param $ks i32) (param $pb i32) (param $ldb i32) ` +
      `(param $pc i32) (param $ldc i32) (param $kc i32) (param $acc i32) (param $M i32)${nvParam}`,
  );
  lines.push('  (local $i i32) (local $left i32)');
  lines.push('  (block $done (loop $il');
  lines.push(`    (br_if $done (i32.gt_s (i32.add (local.get $i) (i32.const ${o.mr})) (local.get $M)))`);
  lines.push(`    (call $k${t}_${o.mr}x${suffix} ${args('(local.get $pa)', '(local.get $pc)')})`);
  lines.push(`    (local.set $pa (i32.add (local.get $pa) (i32.mul (local.get $rs) (i32.const ${o.mr}))))`);
  lines.push(`    (local.set $pc (i32.add (local.get $pc) (i32.mul (local.get $ldc) (i32.const ${o.mr}))))`);
  lines.push(`    (local.set $i (i32.add (local.get $i) (i32.const ${o.mr})))`);
  lines.push('    (br $il)))');
  lines.push('  (local.set $left (i32.sub (local.get $M) (local.get $i)))');
  for (const r of range(o.mr)) {
    if (r === 0) continue;
    lines.push(`  (if (i32.eq (local.get $left) (i32.const ${r})) (then (call $k${t}_${r}x${suffix} ${args('(local.get $pa)', '(local.get $pc)')})))`);
  }
  lines.push(')');
  return lines.join('\n');
}

function driver(o: GemmWatOptions): string {
  const nr = o.nrv * 4;
  // B's strip: in place (row stride ldb), or packed by pack_b (strip after strip, each K rows × its width).
  const width = (suffix: string) => (suffix === '1p' ? 4 : Number(suffix) * 4);
  const bPtr = (suffix: string) =>
    `(select (i32.add (local.get $pb) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $K)) ` +
    `(i32.mul (local.get $k0) (i32.const ${width(suffix)}))) (i32.const 2))) ` +
    `(i32.add (local.get $pbK) (i32.shl (local.get $j) (i32.const 2))) (local.get $packed))`;
  const ldb = (suffix: string) => `(select (i32.const ${width(suffix) * 4}) (local.get $ldb) (local.get $packed))`;
  const call = (t: string, suffix: string, nv: string) =>
    `(call $rows${t}_${suffix} (local.get $paI) (local.get $rs) (local.get $ks) ` +
    `${bPtr(suffix)} ${ldb(suffix)} ` +
    `(i32.add (local.get $pcI) (i32.shl (local.get $j) (i32.const 2))) (local.get $ldc) (local.get $kc) (local.get $accum) (local.get $mb)${nv})`;
  const strip = (suffix: string, nv = '') =>
    `(if (local.get $ta) (then ${call('t', suffix, nv)}) (else ${call('n', suffix, nv)}))`;
  const lines: string[] = [];
  lines.push(
    '(func $gemm (export "gemm") (param $pa i32) (param $pb i32) (param $pc i32) (param $M i32) (param $N i32) (param $K i32) ' +
      '(param $rs i32) (param $ks i32) (param $ldb i32) (param $ldc i32) (param $acc i32) (param $ta i32) (param $packed i32)',
  );
  lines.push('  (local $k0 i32) (local $kc i32) (local $accum i32) (local $paK i32) (local $pbK i32) (local $j i32)');
  lines.push('  (local $i0 i32) (local $mb i32) (local $paI i32) (local $pcI i32)');
  lines.push('  (if (i32.or (i32.or (i32.eqz (local.get $M)) (i32.eqz (local.get $N))) (i32.eqz (local.get $K))) (then (return)))');
  lines.push('  (loop $kb');
  lines.push(`    (local.set $kc (select (i32.const ${o.kc}) (i32.sub (local.get $K) (local.get $k0)) ` +
    `(i32.gt_s (i32.sub (local.get $K) (local.get $k0)) (i32.const ${o.kc}))))`);
  lines.push('    (local.set $accum (i32.or (local.get $acc) (i32.ne (local.get $k0) (i32.const 0))))');
  lines.push('    (local.set $paK (i32.add (local.get $pa) (i32.mul (local.get $k0) (local.get $ks))))');
  lines.push('    (local.set $pbK (i32.add (local.get $pb) (i32.mul (local.get $k0) (local.get $ldb))))');
  // Row blocks of mc rows: an mc × kc block of A stays in L2 while every column strip passes over it.
  lines.push('    (local.set $i0 (i32.const 0))');
  lines.push('    (loop $ib');
  lines.push(`    (local.set $mb (select (i32.const ${o.mc}) (i32.sub (local.get $M) (local.get $i0)) ` +
    `(i32.gt_s (i32.sub (local.get $M) (local.get $i0)) (i32.const ${o.mc}))))`);
  lines.push('    (local.set $paI (i32.add (local.get $paK) (i32.mul (local.get $i0) (local.get $rs))))');
  lines.push('    (local.set $pcI (i32.add (local.get $pc) (i32.mul (local.get $i0) (local.get $ldc))))');
  lines.push('    (local.set $j (i32.const 0))');
  // Widest strips first, then narrower ones for the right edge, then a partial strip of 1 to 3 columns.
  for (let v = o.nrv; v >= 1; v--) {
    const w = v * 4;
    if (v === o.nrv) {
      lines.push('    (block $jd (loop $jl');
      lines.push(`      (br_if $jd (i32.gt_s (i32.add (local.get $j) (i32.const ${nr})) (local.get $N)))`);
      lines.push(`      ${strip(String(v))}`);
      lines.push(`      (local.set $j (i32.add (local.get $j) (i32.const ${nr})))`);
      lines.push('      (br $jl)))');
    } else {
      lines.push(`    (if (i32.le_s (i32.add (local.get $j) (i32.const ${w})) (local.get $N)) (then`);
      lines.push(`      ${strip(String(v))}`);
      lines.push(`      (local.set $j (i32.add (local.get $j) (i32.const ${w})))))`);
    }
  }
  lines.push('    (if (i32.lt_s (local.get $j) (local.get $N)) (then');
  lines.push(`      ${strip('1p', ' (i32.sub (local.get $N) (local.get $j))')}))`);
  lines.push('    (local.set $i0 (i32.add (local.get $i0) (local.get $mb)))');
  lines.push('    (br_if $ib (i32.lt_s (local.get $i0) (local.get $M))))');
  lines.push('    (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))');
  lines.push('    (br_if $kb (i32.lt_s (local.get $k0) (local.get $K))))');
  lines.push(')');
  return lines.join('\n');
}

/**
 * Packs B (element (k, j) at src + k*sk + j*sj, so a transposed B packs directly) into the strips the driver walks:
 * full strips of nrv*4 columns, narrower ones at the right edge, a last partial strip zero-padded to 4; each strip is
 * K rows of its width, contiguous. Large N needs it: a strip read in place has a row stride of N*4 bytes, and at
 * N = 1024 that is exactly 4 KiB, so every row of a strip falls in the same L1 sets and the strip never stays cached.
 */
function packFunc(o: GemmWatOptions): string {
  const widths = range(o.nrv).map((v) => (v + 1) * 4);
  return `(func $pack_b (export "pack_b") (param $src i32) (param $dst i32) (param $K i32) (param $N i32) (param $sk i32) (param $sj i32)
  (local $j i32) (local $k i32) (local $c i32) (local $w i32) (local $row i32)
  (block $done (loop $strips
    (br_if $done (i32.ge_s (local.get $j) (local.get $N)))
    (local.set $w (i32.const 4))
    ${widths.map((w) => `(if (i32.le_s (i32.add (local.get $j) (i32.const ${w})) (local.get $N)) (then (local.set $w (i32.const ${w}))))`).join('\n    ')}
    (local.set $k (i32.const 0))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_s (local.get $k) (local.get $K)))
      (local.set $row (i32.add (local.get $src) (i32.add (i32.mul (local.get $k) (local.get $sk)) (i32.mul (local.get $j) (local.get $sj)))))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_s (local.get $c) (local.get $w)))
        (f32.store (local.get $dst)
          (if (result f32) (i32.lt_s (i32.add (local.get $j) (local.get $c)) (local.get $N))
            (then (f32.load (i32.add (local.get $row) (i32.mul (local.get $c) (local.get $sj)))))
            (else (f32.const 0))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl)))
    (local.set $j (i32.add (local.get $j) (local.get $w)))
    (br $strips)))
)`;
}

/** dst [cols × rows] = transpose of src [rows × cols], both row-major f32, in 8×8 blocks to keep both sides in cache. */
function transposeFunc(): string {
  return `(func $transpose (export "transpose") (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
  (local $i0 i32) (local $j0 i32) (local $i i32) (local $j i32) (local $ie i32) (local $je i32)
  (block $d0 (loop $l0
    (br_if $d0 (i32.ge_s (local.get $i0) (local.get $rows)))
    (local.set $ie (select (i32.add (local.get $i0) (i32.const 8)) (local.get $rows)
      (i32.lt_s (i32.add (local.get $i0) (i32.const 8)) (local.get $rows))))
    (local.set $j0 (i32.const 0))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_s (local.get $j0) (local.get $cols)))
      (local.set $je (select (i32.add (local.get $j0) (i32.const 8)) (local.get $cols)
        (i32.lt_s (i32.add (local.get $j0) (i32.const 8)) (local.get $cols))))
      (local.set $i (local.get $i0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_s (local.get $i) (local.get $ie)))
        (local.set $j (local.get $j0))
        (block $d3 (loop $l3
          (br_if $d3 (i32.ge_s (local.get $j) (local.get $je)))
          (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 2)))
            (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $cols)) (local.get $j)) (i32.const 2)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $l3)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l2)))
      (local.set $j0 (i32.add (local.get $j0) (i32.const 8)))
      (br $l1)))
    (local.set $i0 (i32.add (local.get $i0) (i32.const 8)))
    (br $l0)))
)`;
}

export function gemmWat(o: GemmWatOptions): string {
  const parts: string[] = ['(module', '(memory (export "memory") 1)'];
  for (const ta of [false, true]) {
    for (let v = o.nrv; v >= 1; v--) for (let r = 1; r <= o.mr; r++) parts.push(microKernel(o, r, v, false, ta));
    for (let r = 1; r <= o.mr; r++) parts.push(microKernel(o, r, 1, true, ta));
    for (let v = o.nrv; v >= 1; v--) parts.push(rowsFunc(o, v, false, ta));
    parts.push(rowsFunc(o, 1, true, ta));
  }
  parts.push(driver(o));
  parts.push(transposeFunc());
  parts.push(packFunc(o));
  parts.push(elementwiseWat());
  parts.push(zeroSkipWat(o.relaxed));
  parts.push(')');
  return parts.join('\n');
}

/** Compiles WAT to bytes with the `wabt` npm package (a devDependency: only the generator needs it). */
export async function compileWat(name: string, wat: string): Promise<Uint8Array> {
  const { default: wabtInit } = await import('wabt');
  const wabt = await wabtInit();
  const mod = wabt.parseWat(name, wat, { simd: true, relaxed_simd: true });
  try {
    mod.validate();
    return new Uint8Array(mod.toBinary({ write_debug_names: false }).buffer);
  } finally {
    mod.destroy();
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** The TypeScript source of src/engine/kernels/wasm/gemm.generated.ts: both variants as base64. */
export async function generateGemmModuleSource(options = VARIANT_OPTIONS): Promise<string> {
  const simd = await compileWat('gemm-simd.wat', gemmWat({ ...options.simd, relaxed: false }));
  const relaxed = await compileWat('gemm-relaxed.wat', gemmWat({ ...options.relaxed, relaxed: true }));
  return [
    '// GENERATED by `npm run build:wasm` (scripts/build-wasm.ts from scripts/gemm-wat.ts). Do not edit by hand:',
    '// test/engine/kernels.test.ts fails when this file differs from what the generator makes.',
    `export const GEMM_TILES = ${JSON.stringify(options)};`,
    `export const ZERO_SKIP_NV = ${ZERO_SKIP_NV};`,
    `export const GEMM_SIMD_WASM = '${base64(simd)}';`,
    `export const GEMM_RELAXED_WASM = '${base64(relaxed)}';`,
    '',
  ].join('\n');
}
