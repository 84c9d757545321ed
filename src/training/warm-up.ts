/**
 * A training thread's warm-up: a few tiny jobs through the same code a real job runs (runTrainingLoop, Trainer,
 * the models, both optimizers, the engine's ops on the thread's kernel, checkpoint and resume snapshots), so that
 * V8 has compiled that code before the thread's first real job instead of during it.
 *
 * Why: a fresh worker thread ran its first tutorial jobs (two-layer net 1000-100-10, N=64, 500 epochs) 15-35% slower
 * than its later ones (interpreted and baseline code, randn's set-up above all), and the service's single-job
 * latency was measured on threads that had run one job. The warm-up costs a few tens of ms of one core per thread
 * start (workers/esm-entry.cts runs it before Piscina marks the thread ready) and changes no state a job can see:
 * each tiny job has its own seeded generator, and nothing is posted anywhere.
 *
 * The tensors are above the engine's host-allocator threshold (kernels/alloc.ts: 4096 elements), so the same
 * allocation paths are taken as in real jobs.
 */
import { jobSpecSchema, type JobSpec } from '../spec/job-spec.js';
import { runTrainingLoop } from './loop.js';
import { Control } from './protocol.js';

const WARM_UP_JOBS: unknown[] = [
  // The tutorial's program at a tenth of its width (raw tensors, SSE, the tutorial's SGD), with checkpoints. Its own
  // size would also settle the thread's malloc arena, but costs twice as much for little more (measured).
  {
    name: 'warm-up-tutorial',
    model: { kind: 'two_layer_net', inputDim: 100, hiddenDim: 64, outputDim: 10 },
    data: { kind: 'random', n: 64 },
    training: { epochs: 100, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
    checkpointEvery: 50,
    seed: 0,
  },
  // nn.Sequential with biases, MSE, Adam, mini-batches.
  {
    name: 'warm-up-module',
    model: { kind: 'two_layer_net', inputDim: 100, hiddenDim: 64, outputDim: 10, bias: true, init: 'default' },
    data: { kind: 'random', n: 64 },
    training: { epochs: 10, batchSize: 32, loss: 'mse', optimizer: { kind: 'adam', lr: 1e-3 } },
    checkpointEvery: 5,
    seed: 0,
  },
];

/**
 * Runs the warm-up jobs on this thread (synchronously; ~40-80 ms of one core on a fresh thread) and returns how many
 * epochs they trained. `control` is read like a job's control word, between epochs: once it is not RUN the warm-up
 * stops there (the pool sets it when the first task is submitted, so a job that arrives while the threads are still
 * warming up does not wait for the rest of it). A job that ends other than 'succeeded' or 'cancelled' throws: it
 * would mean the training layer is broken on this thread.
 */
export function warmUpTraining(control: SharedArrayBuffer = runningControl()): number {
  let epochs = 0;
  for (const raw of WARM_UP_JOBS) {
    if (Atomics.load(new Int32Array(control), 0) !== Control.RUN) break;
    const spec = jobSpecSchema.parse(raw) as JobSpec & { seed: number };
    let outcome = '';
    runTrainingLoop(
      // flushMs 0: every epoch is posted, so the report path runs as often as the epochs.
      { jobId: 'warm-up', spec, control, startedAtMs: Date.now(), flushMs: 0, resumeSnapshotMs: 0 },
      (m) => {
        if (m.type === 'end') outcome = m.outcome;
        if (m.type === 'epochs') epochs += m.events.length;
      },
    );
    if (outcome === 'cancelled') break;
    if (outcome !== 'succeeded') throw new Error(`training warm-up job ${spec.name} ended ${outcome || 'without an end message'}`);
  }
  return epochs;
}

function runningControl(): SharedArrayBuffer {
  const control = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(control), 0, Control.RUN);
  return control;
}
