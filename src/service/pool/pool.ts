/**
 * The worker threads that train and predict (Piscina). Two pools:
 * - training: exactly `workers` threads. The job manager dispatches at most `workers` jobs at a time and keeps its
 *   own bounded, persisted queue of waiting jobs (it must be able to cancel a waiting job at once, survive a
 *   restart and answer "queue full" before accepting), so Piscina's own queue stays empty by construction.
 * - prediction: one small pool (1 thread by default, idle threads exit) so that a prediction never waits behind a
 *   multi-minute training job, while still keeping large forward passes off the event loop.
 *
 * A task that throws, or a worker that dies (process.exit inside the thread, an uncaught error), rejects only that
 * task's promise; Piscina replaces the thread and the pool keeps serving. Aborting a task's signal terminates its
 * thread (the hard stop after the cooperative cancel's grace period).
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { loadNativeKernels } from '../../runtime/native-kernels.js';
import { Control, type PredictResult, type PredictTask, type TrainTask } from '../../training/protocol.js';

export type WorkerKernelName = 'auto' | 'native' | 'simd' | 'relaxed' | 'js';

/**
 * What the worker threads will run on for a configured kernel, for the start-up log: operators must be able to see
 * when the native accelerator did not load (training then takes about twice as long) and why. Resolves 'auto' and
 * 'native' the way workers/kernels.ts does, by loading the addon in this thread (it is loaded once per thread).
 */
export function describeKernel(wanted: WorkerKernelName = 'auto'): { kernel: string; isa?: string; nativeUnavailable?: string } {
  if (wanted !== 'auto' && wanted !== 'native') return { kernel: wanted };
  const native = loadNativeKernels();
  return native.ok ? { kernel: 'native', isa: native.kernels.isa() } : { kernel: 'simd', nativeUnavailable: native.reason };
}

export interface WorkerPoolOptions {
  /** Training threads; default os.availableParallelism(). */
  workers?: number;
  /** Path or file URL of the training worker module (tests substitute a crashing one). */
  trainScript?: string;
  predictScript?: string;
  predictThreads?: number;
  /** Extra Node flags for worker threads. */
  execArgv?: string[];
  /**
   * Matrix kernel the workers pin (see workers/kernels.ts); default 'auto': the native addon when it loads, else
   * 'simd'. Both give PyTorch's numbers to the bit.
   */
  kernel?: WorkerKernelName;
  /**
   * V8 heap limits of every thread. A thread that reaches them is terminated (ERR_WORKER_OUT_OF_MEMORY): only its
   * task fails and Piscina starts a new thread. Typed-array data (weights, datasets) lives outside these heaps.
   */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; stackSizeMb?: number };
  /**
   * Default true: each training thread, when it starts, imports its worker and runs the worker's `warmUp` export
   * (workers/train.ts: a few tiny jobs, ~0.1 s of one core) before Piscina gives it a task, so that a thread's
   * first job runs on compiled code (see src/training/warm-up.ts). The threads start when the pool is built; the
   * warm-ups stop at their next epoch once the pool is given its first training task, so that task does not wait
   * for them (and threads started later, replacing a crashed one, skip it).
   */
  warmUp?: boolean;
}

/**
 * The compiled worker scripts live in dist/workers/. This file compiles to dist/src/service/pool/pool.js, so the
 * workers are three directories up. When this module runs from source (vitest, tsx), the same relative path lands
 * in the source tree where only .ts files exist, so point at dist/ instead (`npm test` builds first).
 */
export function defaultWorkerScript(name: 'train' | 'predict'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromHere = resolve(here, '../../../workers', `${name}.js`);
  const root = resolve(here, '../../..');
  const compiled = fileURLToPath(import.meta.url).endsWith('.js') ? fromHere : resolve(root, 'dist/workers', `${name}.js`);
  return pathToFileURL(compiled).href;
}

/** The CommonJS shim every pool thread loads (see workers/esm-entry.cts for why); the real worker is in workerData. */
function entryScript(): string {
  return fileURLToPath(defaultWorkerScript('train')).replace(/train\.js$/, 'esm-entry.cjs');
}

function asUrl(script: string): string {
  return script.startsWith('file:') ? script : pathToFileURL(resolve(script)).href;
}

export class WorkerPool {
  readonly threads: number;
  private readonly train: Piscina;
  private readonly predictPool: Piscina;
  /** The training threads' warm-up control word (workers/esm-entry.cts): RUN until the first task, then CANCEL. */
  private readonly warmUpControl = new SharedArrayBuffer(4);

  constructor(opts: WorkerPoolOptions = {}) {
    this.threads = Math.max(1, Math.floor(opts.workers ?? availableParallelism()));
    this.train = new Piscina({
      filename: entryScript(),
      minThreads: this.threads,
      maxThreads: this.threads,
      // One job per thread: a training task occupies its thread for the whole job.
      concurrentTasksPerWorker: 1,
      maxQueue: this.threads,
      idleTimeout: 60_000,
      execArgv: opts.execArgv,
      resourceLimits: opts.resourceLimits,
      workerData: {
        kernel: opts.kernel ?? 'auto',
        script: asUrl(opts.trainScript ?? defaultWorkerScript('train')),
        warmUp: opts.warmUp ?? true,
        warmUpControl: this.warmUpControl,
      },
    });
    this.predictPool = new Piscina({
      filename: entryScript(),
      minThreads: 0,
      maxThreads: Math.max(1, opts.predictThreads ?? 1),
      idleTimeout: 30_000,
      execArgv: opts.execArgv,
      resourceLimits: opts.resourceLimits,
      workerData: { kernel: opts.kernel ?? 'auto', script: asUrl(opts.predictScript ?? defaultWorkerScript('predict')), warmUp: false },
    });
  }

  /**
   * Resolves when the worker returns; every result travels over `task.port` (one ordered channel). The rows' buffers
   * (`data`, `validationData`) are transferred with the port: the caller must not reuse them.
   */
  runTrain(task: TrainTask, signal: AbortSignal): Promise<void> {
    // The first task stops the threads' warm-ups at their next epoch (see warmUp above).
    Atomics.store(new Int32Array(this.warmUpControl), 0, Control.CANCEL);
    const rows = [task.data, task.validationData].flatMap((d) => (d ? [d.x.buffer as ArrayBuffer, d.y.buffer as ArrayBuffer] : []));
    return this.train.run(task, { transferList: [task.port, ...new Set(rows)], signal });
  }

  /** The task's `x` and `safetensors` buffers are transferred (moved, not copied): the caller must not reuse them. */
  runPredict(task: PredictTask): Promise<PredictResult> {
    const buffers = new Set([task.x.buffer as ArrayBuffer, task.safetensors.buffer as ArrayBuffer]);
    return this.predictPool.run(task, { transferList: [...buffers] });
  }

  get queued(): number {
    return this.train.queueSize;
  }

  async destroy(): Promise<void> {
    await Promise.all([this.train.destroy(), this.predictPool.destroy()]);
  }
}
