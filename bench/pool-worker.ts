/**
 * Piscina worker for the concurrency case: runs the tutorial's two-layer program (500 steps) on this thread.
 * Standalone on purpose (the service's pool is not used), so the numbers isolate the engine's scaling.
 */
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';
import { kernels } from '../src/engine/index.js';
import { twoLayerSetup, twoLayerStep } from './programs.js';

enableRelaxedSimd();
await kernels.detectKernels();

export default function run({ steps }: { steps: number }): { ms: number; loss: number; kernel: string } {
  const t = performance.now();
  const s = twoLayerSetup();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = twoLayerStep(s);
  return { ms: performance.now() - t, loss, kernel: kernels.activeKernel() };
}
