/**
 * Worker start-up: the fastest matrix kernel this Node supports. Relaxed SIMD is behind a flag on Node 20; the
 * flag applies to modules compiled after it is set, so set it, then re-run the engine's kernel detection.
 */
import { kernels } from '../src/engine/index.js';
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';

let ready: Promise<void> | null = null;

export function prepareKernels(): Promise<void> {
  ready ??= (async () => {
    enableRelaxedSimd();
    await kernels.detectKernels();
    await kernels.ready;
  })();
  return ready;
}
