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
    case 'oom': {
      // Holds ~400 MB of small JS objects (V8 heap, not ArrayBuffers), then trains normally: a thread under a
      // smaller heap limit dies here; one without limits gets through.
      const hog = [];
      for (let i = 0; i < 4_000_000; i++) hog.push({ i, s: `x${i}`, a: [i, i + 1] });
      const result = await realTrain(task);
      if (hog.length === 0) throw new Error('unreachable');
      return result;
    }
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
