/**
 * Predictions with a job's stored state dict. Small inputs (up to `inlineMaxOps` multiply-adds, default 1e6, about
 * 1 ms) run inline on the event loop with a small LRU of loaded models; larger ones go to the prediction worker pool
 * so they never block the event loop. Checkpoints are immutable once written, so (job, kind, epoch, time)
 * identifies a loaded model on either side.
 */
import type { AnyJobSpec } from '../../spec/job-spec.js';
import type { TrainableModel } from '../../training/model.js';
import { forwardRows, loadModel } from '../../training/predict.js';
import type { PredictResult } from '../../training/protocol.js';
import { forwardCostPerRow } from '../../training/validate.js';
import type { CheckpointInfo } from './types.js';
import type { WorkerPool } from '../pool/pool.js';

const MAX_INLINE_MODELS = 32;

export class Predictor {
  /** Least recently used first. */
  private readonly models = new Map<string, TrainableModel>();

  constructor(
    private readonly pool: () => WorkerPool,
    private readonly inlineMaxOps: number,
  ) {}

  /** `bytes` reads the checkpoint's safetensors: only called when no loaded model can be reused. */
  async run(
    jobId: string,
    spec: AnyJobSpec,
    info: CheckpointInfo,
    bytes: () => Promise<Uint8Array>,
    x: number[][],
  ): Promise<number[][]> {
    const rows = x.length;
    const inputDim = spec.model.inputDim;
    const flat = new Float32Array(rows * inputDim);
    for (let i = 0; i < rows; i++) flat.set(x[i]!, i * inputDim);
    const key = `${jobId}|${info.kind}|${info.epoch}|${info.createdAt}`;
    let result: PredictResult;
    if (rows * forwardCostPerRow(spec) <= this.inlineMaxOps) {
      let model = this.models.get(key);
      if (model) this.models.delete(key);
      else model = loadModel(spec, await bytes());
      this.models.set(key, model);
      if (this.models.size > MAX_INLINE_MODELS) this.models.delete(this.models.keys().next().value!);
      result = forwardRows(model, spec, flat, rows);
    } else {
      result = await this.pool().runPredict({ spec, safetensors: await bytes(), cacheKey: key, x: flat, rows });
    }
    const { y, outputDim } = result;
    const out: number[][] = new Array(rows);
    for (let i = 0; i < rows; i++) out[i] = Array.from(y.subarray(i * outputDim, (i + 1) * outputDim));
    return out;
  }

  forget(jobId: string): void {
    for (const key of [...this.models.keys()]) if (key.startsWith(`${jobId}|`)) this.models.delete(key);
  }
}
