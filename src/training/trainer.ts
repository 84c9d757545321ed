/**
 * One job's training state and its epoch loop step. Engine-facing only: no threads, no I/O (the worker in
 * workers/train.ts drives it and does the messaging).
 *
 * Per batch, the PyTorch idiom: zero_grad; loss = loss_fn(model(x), y); loss.backward(); optimizer.step().
 * - loss 'sse' is the tutorial's own expression (y_pred - y).pow(2).sum(); 'mse' is nn.MSELoss() (mean).
 * - The loss reported for an epoch is, for full batch, that batch's loss (what loss.item() returns in the
 *   tutorials, computed before the step); for mini-batches, the mean of the epoch's batch losses.
 * - A loss that is not finite stops the epoch BEFORE backward/step, so the weights stay those of the last finite
 *   epoch (see workers/train.ts: "diverged at epoch k (loss=NaN)").
 *
 * Snapshot/resume: the model's state dict (safetensors, PyTorch names) plus a resume state = the optimizer's state
 * dict (safetensors: its tensors, with hyperparameters and step counters as JSON metadata) with the generator
 * state and the epoch in metadata. Resuming rebuilds the data from the seed (deterministic), then overwrites the
 * weights, optimizer state and generator, so the run continues bit for bit.
 */
import {
  Generator,
  loadSafetensors,
  mseLoss,
  noGrad,
  optim,
  saveSafetensors,
  type GeneratorState,
  type Tensor,
} from '../engine/index.js';
import type { JobSpec } from '../spec/job-spec.js';
import { batchCount, batchesOf, buildData, type Batch } from './data.js';
import { buildModel, type TrainableModel } from './model.js';
import { buildOptimizer, type TrainingOptimizer } from './optimizer.js';
import type { ResumePoint, TrainingData } from './protocol.js';

const RESUME_FORMAT = 'gradloom-resume-v1';

interface ResumeMeta {
  format: typeof RESUME_FORMAT;
  epoch: number;
  generator: GeneratorState;
}

export class Trainer {
  /** Epochs completed. */
  epoch = 0;
  readonly epochs: number;

  private constructor(
    readonly spec: JobSpec & { seed: number },
    readonly model: TrainableModel,
    private readonly optimizer: TrainingOptimizer,
    private readonly data: Batch,
    private readonly gen: Generator,
  ) {
    this.epochs = spec.training.epochs;
  }

  /** Seeds the job's generator, draws the data then the weights (tutorial order), optionally resumes. */
  static create(spec: JobSpec & { seed: number }, rows?: TrainingData, resume?: ResumePoint): Trainer {
    const gen = new Generator(spec.seed);
    const data = buildData(spec, gen, rows);
    const model = buildModel(spec.model, gen);
    const optimizer = buildOptimizer(spec.model, spec.training.optimizer, model.parameters);
    const trainer = new Trainer(spec, model, optimizer, data, gen);
    if (resume) trainer.restore(resume);
    return trainer;
  }

  get done(): boolean {
    return this.epoch >= this.epochs;
  }

  private lossOf(pred: Tensor, y: Tensor): Tensor {
    return this.spec.training.loss === 'sse' ? pred.sub(y).pow(2).sum() : mseLoss(pred, y, 'mean');
  }

  /**
   * Trains one epoch and returns its loss. When the loss is not finite, nothing is updated from that batch on,
   * `epoch` does not advance, and the non-finite value is returned.
   */
  runEpoch(): number {
    let total = 0;
    const { batchSize } = this.spec.training;
    for (const batch of batchesOf(this.data, batchSize)) {
      this.optimizer.zeroGrad();
      const loss = this.lossOf(this.model.forward(batch.x), batch.y);
      const value = loss.item();
      if (!Number.isFinite(value)) return value;
      loss.backward();
      this.optimizer.step();
      total += value;
    }
    this.epoch++;
    const batches = batchCount(this.data.x.shape[0]!, batchSize);
    return batches === 1 ? total : total / batches;
  }

  /** The model as PyTorch names it, as a safetensors file (`torch` loads it into the equivalent module). */
  saveModel(): Uint8Array {
    return saveSafetensors(this.model.stateDict(), { format: 'pt' });
  }

  weightsFinite(): boolean {
    return this.model.parameters.every((p) => p.data.every(Number.isFinite));
  }

  snapshot(): ResumePoint {
    const meta: ResumeMeta = { format: RESUME_FORMAT, epoch: this.epoch, generator: this.gen.getState() };
    return {
      epoch: this.epoch,
      safetensors: this.saveModel(),
      resumeState: optim.serializeOptimizerState(this.optimizer.stateDict(), { resume: JSON.stringify(meta) }),
    };
  }

  private restore(resume: ResumePoint): void {
    const { metadata } = loadSafetensors(resume.resumeState);
    const meta = JSON.parse(metadata.resume ?? 'null') as ResumeMeta | null;
    if (!meta || meta.format !== RESUME_FORMAT) throw new Error(`not a gradloom resume state (format ${RESUME_FORMAT} expected)`);
    this.model.loadStateDict(loadSafetensors(resume.safetensors).tensors);
    this.optimizer.loadStateDict(optim.deserializeOptimizerState(resume.resumeState));
    this.gen.setState(meta.generator);
    this.epoch = meta.epoch;
  }

  /** Forward pass without a graph (evaluation after training). */
  predict(x: Tensor): Tensor {
    return noGrad(() => this.model.forward(x));
  }
}
