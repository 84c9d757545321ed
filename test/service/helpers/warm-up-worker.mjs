// Test-only pool worker: records whether its warmUp export ran before the task, and posts that over the task's port.
// Job names select failure modes of the warm-up.
let warmedUp = 0;

export async function warmUp() {
  if (process.env.WARM_UP_WORKER_THROWS === '1') throw new Error('warm-up failed');
  warmedUp++;
}

export default async function run(task) {
  task.port.postMessage({ warmedUp });
}
