// Test-only pool worker: records whether (and how) its warmUp export ran before the task, and posts that over the
// task's port. process.env (copied when the thread starts) selects the warm-up's behaviour.
let warmedUp = 0;
let stoppedByPool = false;

export async function warmUp(control) {
  if (process.env.WARM_UP_WORKER_THROWS === '1') throw new Error('warm-up failed');
  if (process.env.WARM_UP_WORKER_LONG === '1') {
    // A warm-up that would take 10 s unless the pool's control word says stop (as src/training/warm-up.ts reads it).
    const word = new Int32Array(control);
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      if (Atomics.load(word, 0) !== 0) {
        stoppedByPool = true;
        break;
      }
      Atomics.wait(word, 0, 0, 5);
    }
  }
  warmedUp++;
}

export default async function run(task) {
  task.port.postMessage({ warmedUp, stoppedByPool });
}
