/**
 * The engine's compute kernels, exported from the engine as the namespace `kernels`:
 * `kernels.available()` lists the sgemm paths this runtime supports (fastest first), `kernels.useKernel(name)` pins
 * one, `kernels.activeKernel()` says which one runs. The fastest is chosen when the engine is imported.
 */
export {
  activeKernel,
  availableKernels as available,
  detectKernels,
  gemmKernel,
  kernelsReady as ready,
  registerKernel,
  sgemm,
  sgemmReference,
  setGemmKernel,
  useKernel,
} from './gemm.js';
export type { Backend, GemmArgs, KernelName } from './gemm.js';
export { setResultAllocator } from './alloc.js';
