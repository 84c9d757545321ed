/**
 * Piscina worker: one forward pass over a large prediction input, off the service's event loop. Keeps the last few
 * models it loaded (checkpoints are immutable, so the runtime's cache key identifies one).
 */
import { prepareKernels } from './kernels.js';
import { forwardRows, loadModel } from '../src/training/predict.js';
import type { TrainableModel } from '../src/training/model.js';
import type { PredictResult, PredictTask } from '../src/training/protocol.js';

const models = new Map<string, TrainableModel>();
const MAX_MODELS = 8;

export default async function predict(task: PredictTask): Promise<PredictResult> {
  await prepareKernels();
  if (task.cacheKey === undefined) return forwardRows(loadModel(task.spec, task.safetensors), task.spec, task.x, task.rows);
  let model = models.get(task.cacheKey);
  if (model) models.delete(task.cacheKey);
  else model = loadModel(task.spec, task.safetensors);
  models.set(task.cacheKey, model);
  if (models.size > MAX_MODELS) models.delete(models.keys().next().value!);
  return forwardRows(model, task.spec, task.x, task.rows);
}
