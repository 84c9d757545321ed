/**
 * Piscina worker for the concurrency case: runs the tutorial's two-layer program (500 steps) on this thread.
 * Standalone on purpose (the service's pool is not used), so the numbers isolate the engine's scaling.
 */
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';
import { registerNativeKernels } from '../src/runtime/native-kernels.js';
import { kernels } from '../src/engine/index.js';
import { twoLayerSetup, twoLayerStep } from './programs.js';

enableRelaxedSimd();
await kernels.detectKernels();
// The native addon when it was built (then the preferred path, as in the service's workers).
const native = registerNativeKernels();

export default function run({ steps }: { steps: number }): { ms: number; loss: number; kernel: string; isa: string | null } {
  const t = performance.now();
  const s = twoLayerSetup();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = twoLayerStep(s);
  return { ms: performance.now() - t, loss, kernel: kernels.activeKernel(), isa: native.ok ? native.kernels.isa() : null };
}
