/**
 * Predictions from a stored state dict: rebuild the model's shape, load the weights, one forward pass without a
 * graph. Called inline by the runtime for small inputs and from workers/predict.ts for large ones.
 */
import { Generator, loadSafetensors, noGrad, tensor } from '../engine/index.js';
import { buildModel } from './model.js';
import type { PredictResult, PredictTask } from './protocol.js';

export function predictRows(task: PredictTask): PredictResult {
  // The initial draw is overwritten by the checkpoint; any seed will do.
  const model = buildModel(task.spec.model, new Generator(0));
  model.loadStateDict(loadSafetensors(task.safetensors).tensors);
  const x = tensor(task.x, { shape: [task.rows, task.spec.model.inputDim] });
  const y = noGrad(() => model.forward(x));
  return { y: y.data, outputDim: task.spec.model.outputDim };
}
