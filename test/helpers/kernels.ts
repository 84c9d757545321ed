/**
 * Runs a block of tests once per sgemm path this runtime has (relaxed SIMD, plain SIMD, pure JS), so every fixture
 * test proves every path. Relaxed SIMD is switched on first (Node 20 needs a V8 flag; see src/runtime/relaxed-simd.ts).
 *
 *   forEachKernel((name) => { it('matches PyTorch', () => { ... }); });
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { enableRelaxedSimd } from '../../src/runtime/relaxed-simd.js';
import { activeKernel, availableKernels, detectKernels, useKernel, type KernelName } from '../../src/engine/kernels/gemm.js';

enableRelaxedSimd();
await detectKernels();

export const KERNELS: KernelName[] = availableKernels();

export function forEachKernel(fn: (name: KernelName) => void): void {
  for (const name of KERNELS) {
    describe(`kernel: ${name}`, () => {
      let previous: ReturnType<typeof activeKernel>;
      beforeAll(() => {
        previous = activeKernel();
        useKernel(name);
      });
      afterAll(() => {
        if (previous !== 'custom') useKernel(previous);
      });
      fn(name);
    });
  }
}
