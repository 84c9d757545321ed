/**
 * Node-side switch for WebAssembly relaxed SIMD (f32x4.relaxed_madd, about 30% faster sgemm than mul+add).
 *
 * Node 22+ ship it; Node 20 has it behind `--experimental-wasm-relaxed-simd`. Measured on Node 20.20: setting the
 * flag at run time with `v8.setFlagsFromString` works on the main thread and inside worker threads, and applies to
 * the whole process (workers started later see it too). It affects only modules compiled afterwards, so call
 * `enableRelaxedSimd()` and then the engine's `detectKernels()` (or call it before importing the engine).
 * This lives outside src/engine because it is Node API; the engine itself only detects.
 */
import v8 from 'node:v8';
import { wasmApi } from '../engine/kernels/wasm-gemm.js';

const PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32,
  2, 253, 133, 2, 11,
]);

/** Enables relaxed SIMD for this process if the runtime can; returns whether it is now available. */
export function enableRelaxedSimd(): boolean {
  const api = wasmApi();
  if (api === undefined) return false;
  if (api.validate(PROBE)) return true;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return api.validate(PROBE);
}
