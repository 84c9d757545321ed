/**
 * Piscina worker for the service cases' engine-only bounds (bench/service.ts): a fresh thread with the kernel the
 * service's workers use (native when it loads, else plain SIMD), so the bound is not slowed by the bench's main thread,
 * whose ops have by then run on every kernel path. Runs the tutorial's step, or the same job through the training
 * layer (src/training/loop.ts with a no-op post), and returns wall ms.
 */
import { prepareKernels } from '../workers/kernels.js';
import { kernels } from '../src/engine/index.js';
import { runTrainingLoop } from '../src/training/loop.js';
import { Control } from '../src/training/protocol.js';
import { twoLayerSetup, twoLayerStep } from './programs.js';

export default async function run({ what, epochs, spec }: { what: 'step' | 'loop'; epochs: number; spec: object }): Promise<{ ms: number; kernel: string }> {
  await prepareKernels('auto');
  if (what === 'step') {
    const s = twoLayerSetup();
    const t = performance.now();
    for (let i = 0; i < epochs; i++) twoLayerStep(s);
    return { ms: performance.now() - t, kernel: kernels.activeKernel() };
  }
  const control = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(control), 0, Control.RUN);
  let outcome = '';
  const t = performance.now();
  runTrainingLoop(
    { jobId: 'bench', spec: { ...spec, training: { ...(spec as { training: object }).training, epochs } } as never, control, startedAtMs: Date.now(), flushMs: 50, resumeSnapshotMs: 0 },
    (m) => {
      if (m.type === 'end') outcome = m.outcome;
    },
  );
  const ms = performance.now() - t;
  if (outcome !== 'succeeded') throw new Error(`training loop ended ${outcome}`);
  return { ms, kernel: kernels.activeKernel() };
}
