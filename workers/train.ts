/**
 * Piscina worker: trains one job. Thin glue between the pool's task (src/training/protocol.ts) and the epoch loop
 * (src/training/loop.ts). Every result travels over the task's MessagePort so that the runtime sees it in order;
 * the runtime closes the channel once it has the 'end' message.
 */
import { prepareKernels } from './kernels.js';
import { runTrainingLoop } from '../src/training/loop.js';
import { warmUpTraining } from '../src/training/warm-up.js';
import type { TrainTask, WorkerMessage } from '../src/training/protocol.js';

export default async function train(task: TrainTask): Promise<void> {
  await prepareKernels();
  runTrainingLoop(task, (m: WorkerMessage, transfer?: ArrayBuffer[]) => task.port.postMessage(m, transfer ?? []));
}

/**
 * Run once when the thread starts, before Piscina hands it a task (workers/esm-entry.cts): pins the kernel and
 * trains a few tiny jobs (src/training/warm-up.ts) so that the first real job runs on compiled code. `control` is
 * the pool's warm-up control word: it says stop once the pool has been given a task.
 */
export async function warmUp(control?: SharedArrayBuffer): Promise<void> {
  await prepareKernels();
  warmUpTraining(control);
}
