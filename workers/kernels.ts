/**
 * Worker start-up: pin the matrix kernel the pool was configured with (Piscina workerData `{kernel}`).
 *
 * Default 'simd' (plain WebAssembly SIMD): the engine's reductions and products follow PyTorch's CPU order on it,
 * so the tutorial jobs stream PyTorch's losses to the bit. 'relaxed' (relaxed-SIMD fused multiply-add, behind a
 * flag on Node 20) is about 15% faster per step but rounds products differently (~1e-7 relative per step). The
 * relaxed-SIMD flag is process-wide once any thread sets it, so the kernel is always pinned explicitly rather than
 * left to the engine's automatic choice.
 */
import { workerData } from 'piscina';
import { kernels } from '../src/engine/index.js';
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';

export type WorkerKernel = 'simd' | 'relaxed' | 'js';

let ready: Promise<void> | null = null;

export function prepareKernels(wanted: WorkerKernel = (workerData as { kernel?: WorkerKernel } | undefined)?.kernel ?? 'simd'): Promise<void> {
  ready ??= (async () => {
    if (wanted === 'relaxed') enableRelaxedSimd();
    await kernels.detectKernels();
    await kernels.ready;
    // A runtime without the wanted path keeps the engine's best available choice.
    if (kernels.available().includes(wanted)) kernels.useKernel(wanted);
  })();
  return ready;
}
