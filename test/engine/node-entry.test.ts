/**
 * src/runtime/engine.ts, the engine's Node entry: importing it (and nothing else) makes the fastest kernel that loads
 * the active one (the native addon, else WebAssembly SIMD), it exports everything src/engine/index.ts exports, and
 * the tutorial's numbers do not change. Each case runs in a fresh process, since the choice is made at import.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine/index.js';
import * as nodeEngine from '../../src/runtime/engine.js';
import { NATIVE } from '../helpers/kernels.js';

interface Probe {
  active: string;
  nativeOk: boolean;
  reason?: string;
  losses: number[];
}

/** A program that imports only the Node entry, as a user would, and runs 30 tutorial steps. */
function probe(env: Record<string, string>): Probe {
  const script =
    "import('./src/runtime/engine.ts').then((g) => {" +
    ' const active = g.kernels.activeKernel(); g.manualSeed(0);' +
    ' const x = g.randn([64, 1000]), y = g.randn([64, 10]);' +
    ' const w1 = g.randn([1000, 100], { requiresGrad: true }), w2 = g.randn([100, 10], { requiresGrad: true });' +
    ' const losses = [];' +
    ' for (let t = 0; t < 30; t++) { const loss = x.mm(w1).clamp({ min: 0 }).mm(w2).sub(y).pow(2).sum(); losses.push(loss.item()); loss.backward();' +
    '   g.noGrad(() => { w1.sub_(w1.grad.mul(1e-6)); w2.sub_(w2.grad.mul(1e-6)); w1.grad.zero_(); w2.grad.zero_(); }); }' +
    ' const n = g.nativeKernels;' +
    ' console.log(JSON.stringify({ active, nativeOk: n.ok, reason: n.ok ? undefined : n.reason, losses })); })';
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: new URL('../..', import.meta.url),
    env: { ...process.env, GRADLOOM_NATIVE: '', GRADLOOM_NATIVE_ADDON: '', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Probe;
}

describe('the engine as a Node program imports it (src/runtime/engine.ts)', () => {
  it('exports everything the browser-safe engine exports, the same objects', () => {
    for (const [name, value] of Object.entries(engine)) expect((nodeEngine as Record<string, unknown>)[name], name).toBe(value);
    expect(nodeEngine.nativeKernels.ok).toBe(NATIVE.ok);
  });

  it('is on the native kernel at import when the addon loads, else on WebAssembly SIMD, with the same losses', () => {
    const fastest = probe({});
    const wasm = probe({ GRADLOOM_NATIVE: '0' });
    expect(wasm.nativeOk).toBe(false);
    expect(wasm.reason).toMatch(/GRADLOOM_NATIVE=0/);
    expect(['simd', 'relaxed']).toContain(wasm.active);
    if (NATIVE.ok) {
      expect(fastest.nativeOk).toBe(true);
      expect(fastest.active).toBe('native');
    } else {
      expect(fastest.active).toBe(wasm.active);
    }
    expect(fastest.losses).toHaveLength(30);
    expect(fastest.losses[29]).toBeLessThan(fastest.losses[0]);
    // native and plain SIMD compute the same bits (relaxed SIMD would not: Node 20 enables it only behind a flag).
    if (wasm.active === 'simd') expect(fastest.losses).toEqual(wasm.losses);
  });

  it('a missing addon is not an error: the entry reports why and the engine keeps WebAssembly', () => {
    const missing = probe({ GRADLOOM_NATIVE_ADDON: '/nonexistent/gradloom_native.node' });
    expect(missing.nativeOk).toBe(false);
    expect(missing.reason).toMatch(/gradloom_native.node is missing/);
    expect(['simd', 'relaxed']).toContain(missing.active);
  });

  it('`gradloom/engine` (package.json exports) is the Node entry in Node and the browser-safe engine elsewhere', () => {
    const root = new URL('../..', import.meta.url);
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { exports: Record<string, unknown> };
    expect(pkg.exports['./engine']).toEqual({ node: './dist/src/runtime/engine.js', default: './dist/src/engine/index.js' });
    // The built package, imported by name from a plain Node program (npm test builds first).
    expect(existsSync(new URL('dist/src/runtime/engine.js', root)), 'dist/ is missing: run npm run build (npm test does)').toBe(true);
    expect(existsSync(new URL('dist/src/engine/index.js', root))).toBe(true);
    const script =
      "import('gradloom/engine').then((g) => console.log(JSON.stringify({ active: g.kernels.activeKernel(), entry: 'nativeKernels' in g })))";
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, GRADLOOM_NATIVE: '', GRADLOOM_NATIVE_ADDON: '' },
      encoding: 'utf8',
    });
    const seen = JSON.parse(out.trim().split('\n').pop()!) as { active: string; entry: boolean };
    expect(seen.entry).toBe(true);
    if (NATIVE.ok) expect(seen.active).toBe('native');
    else expect(['simd', 'relaxed']).toContain(seen.active);
  });
});
