/**
 * Memory case, run in its own process (`node --expose-gc dist/bench/memory.js STEPS`): the tutorial for STEPS
 * steps, heap and RSS after a full GC at the start (after warm-up) and at the end. A graph or buffer leak shows as
 * growth proportional to the step count; a flat profile is the goal.
 */
import { enableRelaxedSimd } from '../src/runtime/relaxed-simd.js';
import { registerNativeKernels } from '../src/runtime/native-kernels.js';
import { kernels } from '../src/engine/index.js';
import { twoLayerSetup, twoLayerStep } from './programs.js';

enableRelaxedSimd();
await kernels.detectKernels();
// The native addon when it was built (then the preferred path, as in the service's workers).
const native = registerNativeKernels();
const steps = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
const snap = () => {
  gc?.();
  const m = process.memoryUsage();
  return { heapMB: +(m.heapUsed / 2 ** 20).toFixed(2), rssMB: +(m.rss / 2 ** 20).toFixed(1), externalMB: +(m.external / 2 ** 20).toFixed(2) };
};
const s = twoLayerSetup();
for (let i = 0; i < 200; i++) twoLayerStep(s);
const start = snap();
const mid: { step: number; heapMB: number; rssMB: number }[] = [];
const t = performance.now();
let loss = 0;
for (let i = 1; i <= steps; i++) {
  loss = twoLayerStep(s);
  if (i % (steps / 4) === 0 && i < steps) mid.push({ step: i, ...snap() });
}
const ms = performance.now() - t;
const end = snap();
console.log(
  JSON.stringify({
    case: 'memory',
    steps,
    kernel: kernels.activeKernel(),
    nativeIsa: native.ok ? native.kernels.isa() : null,
    gcExposed: gc !== undefined,
    start,
    checkpoints: mid,
    end,
    heapGrowthMB: +(end.heapMB - start.heapMB).toFixed(2),
    rssGrowthMB: +(end.rssMB - start.rssMB).toFixed(1),
    msPerStep: +(ms / steps).toFixed(4),
    finalLoss: loss,
  }),
);
