/**
 * Worker start-up: pin the matrix kernel the pool was configured with (Piscina workerData `{kernel}`).
 *
 * Default 'auto': the native addon ('native', AVX-512/AVX2 C; src/runtime/native-kernels.ts) when it was built and
 * loads, else plain WebAssembly SIMD ('simd'). Both follow PyTorch's CPU order, bit for bit the same results, so the
 * tutorial jobs stream PyTorch's losses to the bit either way; 'native' is about twice as fast per product.
 * 'relaxed' (relaxed-SIMD fused multiply-add, behind a flag on Node 20) is faster than 'simd' but rounds products
 * differently (~1e-7 relative per step). The relaxed-SIMD flag is process-wide once any thread sets it, so the kernel
 * is always pinned explicitly rather than left to the engine's automatic choice.
 */
import { workerData } from 'piscina';
import { kernels } from '../src/engine/index.js';
import { registerNativeKernels } from '../src/runtime/native-kernels.js';
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';

export type WorkerKernel = 'auto' | 'native' | 'simd' | 'relaxed' | 'js';

let ready: Promise<void> | null = null;

export function prepareKernels(wanted: WorkerKernel = (workerData as { kernel?: WorkerKernel } | undefined)?.kernel ?? 'auto'): Promise<void> {
  ready ??= (async () => {
    if (wanted === 'relaxed') enableRelaxedSimd();
    await kernels.detectKernels();
    await kernels.ready;
    // 'native' without a built addon falls back like 'auto' does: to 'simd', which gives the same bits.
    const pick: kernels.KernelName =
      wanted === 'auto' || wanted === 'native' ? (registerNativeKernels().ok ? 'native' : 'simd') : wanted;
    // A runtime without the wanted path keeps the engine's best available choice.
    if (kernels.available().includes(pick)) kernels.useKernel(pick);
  })();
  return ready;
}
