/**
 * Runs a block of tests once per sgemm path this runtime has (native addon, relaxed SIMD, plain SIMD, pure JS), so
 * every fixture test proves every path. Relaxed SIMD is switched on first (Node 20 needs a V8 flag; see
 * src/runtime/relaxed-simd.ts); the native addon is registered when it was built (src/runtime/native-kernels.ts).
 *
 *   forEachKernel((name) => { it('matches PyTorch', () => { ... }); });
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { enableRelaxedSimd } from '../../src/runtime/relaxed-simd.js';
import { registerNativeKernels, type NativeLoad } from '../../src/runtime/native-kernels.js';
import { activeKernel, availableKernels, detectKernels, useKernel, type KernelName } from '../../src/engine/kernels/gemm.js';

enableRelaxedSimd();
await detectKernels();
/** The native addon's load result (why it is missing, when it is). */
export const NATIVE: NativeLoad = registerNativeKernels();

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
