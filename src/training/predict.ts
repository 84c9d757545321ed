/**
 * Predictions from a stored state dict: rebuild the model's shape, load the weights, one forward pass without a
 * graph. Called inline by the runtime for small inputs and from workers/predict.ts for large ones.
 */
import { Generator, loadSafetensors, noGrad, tensor } from '../engine/index.js';
import type { AnyJobSpec } from '../spec/job-spec.js';
import { buildModel, type TrainableModel } from './model.js';
import type { PredictResult, PredictTask } from './protocol.js';

export function loadModel(spec: AnyJobSpec, safetensors: Uint8Array): TrainableModel {
  // The initial draw is overwritten by the checkpoint; any seed will do.
  const model = buildModel(spec.model, new Generator(0));
  model.loadStateDict(loadSafetensors(safetensors).tensors);
  return model;
}

export function forwardRows(model: TrainableModel, spec: AnyJobSpec, x: Float32Array, rows: number): PredictResult {
  const input = tensor(x, { shape: [rows, spec.model.inputDim] });
  const y = noGrad(() => model.forward(input));
  return { y: y.data, outputDim: spec.model.outputDim };
}

export function predictRows(task: PredictTask): PredictResult {
  return forwardRows(loadModel(task.spec, task.safetensors), task.spec, task.x, task.rows);
}
