/**
 * CommonJS entry that Piscina loads in every worker thread; it imports the real (ESM) worker with `import()`.
 *
 * Why: Piscina first tries `require(filename)`. On Node 20.19+ that takes the require(esm) path, and when a worker
 * thread is terminated or replaced while its module graph is loading (cancel's hard stop, a crashed worker), Node 20
 * can abort the whole process with "FATAL ERROR: v8::Module::IsGraphAsync ... must be used on an instantiated
 * module". Loading a CommonJS file and importing the ESM worker asynchronously never enters that path.
 */
const { workerData } = require('node:worker_threads') as typeof import('node:worker_threads');

type Handler = (task: unknown) => unknown;
let handler: Promise<Handler> | undefined;

function load(): Promise<Handler> {
  const script = (workerData as { script?: string } | undefined)?.script;
  if (!script) throw new Error('esm-entry: workerData.script (the worker module URL) is missing');
  return import(script).then((mod: { default?: Handler }) => {
    if (typeof mod.default !== 'function') throw new Error(`esm-entry: ${script} has no default export function`);
    return mod.default;
  });
}

module.exports = async function run(task: unknown): Promise<unknown> {
  handler ??= load();
  return (await handler)(task);
};
