// Test-only training worker: the real one (compiled, dist/workers/train.js), plus failure modes selected by the
// job's name. Passed to the manager through `workerScript`; production code has no such hooks.
import realTrain from '../../../dist/workers/train.js';

export default async function train(task) {
  switch (task.spec.name) {
    case 'crash:exit':
      process.exit(7);
      break;
    case 'crash:throw':
      throw new Error('boom from inside the worker');
    case 'crash:uncaught':
      setTimeout(() => {
        throw new Error('uncaught error in the worker thread');
      }, 1);
      await new Promise((r) => setTimeout(r, 5000));
      return;
    case 'hang': {
      // Ignores the cooperative cancel flag: only the hard stop (thread termination) ends it.
      for (;;) {
        /* spin */
      }
    }
    default:
      return realTrain(task);
  }
}
