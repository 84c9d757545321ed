/**
 * CommonJS entry that Piscina loads in every worker thread; it imports the real (ESM) worker with `import()`.
 *
 * Why: Piscina first tries `require(filename)`. On Node 20.19+ that takes the require(esm) path, and when a worker
 * thread is terminated or replaced while its module graph is loading (cancel's hard stop, a crashed worker), Node 20
 * can abort the whole process with "FATAL ERROR: v8::Module::IsGraphAsync ... must be used on an instantiated
 * module". Loading a CommonJS file and importing the ESM worker asynchronously never enters that path.
 *
 * The export is a Promise of the task handler, which Piscina awaits before it marks the thread ready: the worker
 * module is imported at thread start, and when it exports `warmUp` (workers/train.ts does) that runs too, with the
 * pool's warm-up control word (workerData.warmUpControl; the pool sets it to stop once it is given a task), unless
 * the pool said `warmUp: false`. So a thread's first task does not pay the module load or V8's first compilation
 * of the training code. The promise never rejects: an import that fails gives a handler that rethrows the error,
 * so each task fails with it as before; a warm-up that fails is ignored (the task meets the same error).
 */
const { workerData } = require('node:worker_threads') as typeof import('node:worker_threads');

type Handler = (task: unknown) => unknown;
interface WorkerModule {
  default?: Handler;
  warmUp?: (control?: SharedArrayBuffer) => unknown;
}

async function initialize(): Promise<Handler> {
  const data = workerData as { script?: string; warmUp?: boolean; warmUpControl?: SharedArrayBuffer } | undefined;
  let handler: Handler;
  try {
    const script = data?.script;
    if (!script) throw new Error('esm-entry: workerData.script (the worker module URL) is missing');
    const mod = (await import(script)) as WorkerModule;
    const run = mod.default;
    if (typeof run !== 'function') throw new Error(`esm-entry: ${script} has no default export function`);
    handler = run;
    if (data?.warmUp !== false && typeof mod.warmUp === 'function') {
      try {
        await mod.warmUp(data?.warmUpControl);
      } catch {
        // The thread still serves tasks; one that hits the same problem reports it.
      }
    }
  } catch (err) {
    handler = () => {
      throw err;
    };
  }
  return async (task: unknown) => handler(task);
}

module.exports = initialize();
