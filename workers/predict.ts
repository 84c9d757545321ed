/** Piscina worker: one forward pass over a large prediction input, off the service's event loop. */
import { prepareKernels } from './kernels.js';
import { predictRows } from '../src/training/predict.js';
import type { PredictResult, PredictTask } from '../src/training/protocol.js';

export default async function predict(task: PredictTask): Promise<PredictResult> {
  await prepareKernels();
  return predictRows(task);
}
