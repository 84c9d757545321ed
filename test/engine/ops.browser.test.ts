/**
 * The engine must run in a browser. tsconfig.engine.json already type-checks it without Node's types; this test
 * checks the runtime side: the engine bundled on its own (esbuild) runs in a fresh JS realm that has only the
 * globals a browser also has (no process, Buffer, require, module), and computes the same numbers there.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine/index.js';

async function bundle(): Promise<string> {
  const res = await build({
    entryPoints: [fileURLToPath(new URL('../../src/engine/index.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'gradloom',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return res.outputFiles[0].text;
}

describe('the engine in a browser-like realm', () => {
  it('bundles for the browser platform and trains the tutorial net with only browser globals', async () => {
    const code = await bundle();
    const sandbox: Record<string, unknown> = {
      console,
      TextEncoder,
      TextDecoder,
      atob,
      btoa,
      queueMicrotask,
      setTimeout,
      clearTimeout,
      performance,
      crypto: globalThis.crypto,
    };
    const ctx = vm.createContext(sandbox);
    vm.runInContext(`${code}\nglobalThis.gradloom = gradloom;`, ctx, { filename: 'gradloom-engine.js' });
    for (const name of ['process', 'Buffer', 'require', 'module']) {
      expect(vm.runInContext(`typeof ${name}`, ctx)).toBe('undefined');
    }
    // The same program in both realms, on each sgemm path both have (pinned, since paths differ in rounding).
    const program = `async (gradloom, kernel) => {
      const { randn, manualSeed, noGrad, kernels } = gradloom;
      await kernels.ready;
      kernels.useKernel(kernel);
      manualSeed(0);
      const x = randn([8, 20]), y = randn([8, 3]);
      const w1 = randn([20, 6], { requiresGrad: true }), w2 = randn([6, 3], { requiresGrad: true });
      const losses = [];
      for (let t = 0; t < 20; t++) {
        const loss = x.mm(w1).clamp({ min: 0 }).mm(w2).sub(y).pow(2).sum();
        losses.push(loss.item());
        loss.backward();
        noGrad(() => { w1.sub_(w1.grad.mul(1e-3)); w2.sub_(w2.grad.mul(1e-3)); w1.grad.zero_(); w2.grad.zero_(); });
      }
      return losses;
    }`;
    const realmRun = vm.runInContext(`(${program})`, ctx) as (m: unknown, k: string) => Promise<number[]>;
    const hostRun = new Function(`return (${program})`)() as (m: unknown, k: string) => Promise<number[]>;
    await engine.kernels.ready;
    const realmKernels = (await vm.runInContext('gradloom.kernels.ready.then(() => gradloom.kernels.available())', ctx)) as string[];
    expect(realmKernels).toContain('js');
    const previous = engine.kernels.activeKernel();
    const compared: string[] = [];
    try {
      for (const k of realmKernels.filter((n) => engine.kernels.available().includes(n as engine.kernels.KernelName))) {
        const inRealm = await realmRun(vm.runInContext('gradloom', ctx), k);
        const here = await hostRun(engine, k);
        expect(inRealm.length).toBe(20);
        expect(inRealm[19]).toBeLessThan(inRealm[0]);
        // Same code, same seed, same kernel: the realm must not change a single number.
        expect(Array.from(inRealm), `kernel ${k}`).toEqual(here);
        compared.push(k);
      }
      console.log(`browser-like realm: kernels ${realmKernels.join(', ')}; compared ${compared.join(', ')}`);
      expect(compared).toContain('js');
    } finally {
      if (previous !== 'custom') engine.kernels.useKernel(previous);
    }
  });
});
