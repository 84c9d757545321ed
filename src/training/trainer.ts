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
import type { TrainableSpec } from '../spec/job-spec.js';
import { batchCount, batchesOf, buildData, InvalidDataError, splitData, type Batch } from './data.js';
import { buildModel, type TrainableModel } from './model.js';
import { buildOptimizer, buildScheduler, type TrainingOptimizer } from './optimizer.js';
import type { ResumePoint, TrainingData } from './protocol.js';
import { checkWarmStartShapes } from './validate.js';

const RESUME_FORMAT = 'gradloom-resume-v1';
/** Tensors of the best epoch's weights inside a resume state (next to the optimizer's `state.*`). */
const BEST_PREFIX = 'best.';

interface EarlyStoppingState {
  /** Best valLoss so far; null before the first finite one (JSON has no Infinity). */
  best: number | null;
  bestEpoch: number;
  /** Epochs since the last improvement. */
  wait: number;
  stopped: boolean;
}

interface ResumeMeta {
  format: typeof RESUME_FORMAT;
  epoch: number;
  generator: GeneratorState;
  /** Present when the job has a schedule / early stopping (older snapshots have neither). */
  scheduler?: optim.LRSchedulerStateDict;
  earlyStopping?: EarlyStoppingState;
}

/** What a trainer starts from besides its spec. */
export interface TrainerInputs {
  /** Rows of a `dataset` job, or of a stored spec's `inline` data. */
  data?: TrainingData;
  /** Rows of a `dataset` validation, or of a stored spec's `inline` one. */
  validationData?: TrainingData;
  /** warmStart weights (safetensors); ignored when resuming. */
  initialWeights?: Uint8Array;
  resume?: ResumePoint;
}

export class Trainer {
  /** Epochs completed. */
  epoch = 0;
  readonly epochs: number;
  /** The last epoch's validation loss (null before the first epoch, or without validation). */
  lastValLoss: number | null = null;
  /** Held-out row indices of a `fraction` split (ascending); null otherwise. */
  readonly validationRows: Int32Array | null;
  readonly trainRows: number;
  private readonly validation: Batch | null;
  private readonly scheduler: optim.LRScheduler | null;
  private readonly early: EarlyStoppingState | null;
  private bestWeights: Record<string, Tensor> | null = null;

  private constructor(
    readonly spec: TrainableSpec,
    readonly model: TrainableModel,
    private readonly optimizer: TrainingOptimizer,
    private readonly data: Batch,
    private readonly gen: Generator,
    split: { validation: Batch | null; validationRows: Int32Array | null; trainRows: number },
  ) {
    this.epochs = spec.training.epochs;
    this.validation = split.validation;
    this.validationRows = split.validationRows;
    this.trainRows = split.trainRows;
    this.scheduler = spec.training.scheduler ? buildScheduler(spec.training.scheduler, optimizer) : null;
    this.early = spec.training.earlyStopping ? { best: null, bestEpoch: 0, wait: 0, stopped: false } : null;
  }

  /**
   * Seeds the job's generator, draws the data then the weights (tutorial order), splits off the validation rows
   * (their own generator, see splitData), then replaces the weights with warmStart's, or resumes.
   * `rows` may be given positionally (older callers) or as `inputs.data`.
   */
  static create(spec: TrainableSpec, rows?: TrainingData, resume?: ResumePoint, inputs: TrainerInputs = {}): Trainer {
    const gen = new Generator(spec.seed);
    const data = buildData(spec, gen, rows ?? inputs.data);
    const model = buildModel(spec.model, gen);
    const split = splitData(spec, data, inputs.validationData);
    const optimizer = buildOptimizer(spec.model, spec.training.optimizer, model.parameters, spec.training.scheduler);
    const trainer = new Trainer(spec, model, optimizer, split.train, gen, {
      validation: split.validation,
      validationRows: split.validationRows,
      trainRows: split.train.x.shape[0]!,
    });
    const from = resume ?? inputs.resume;
    if (from) trainer.restore(from);
    else if (inputs.initialWeights) trainer.warmStart(inputs.initialWeights);
    return trainer;
  }

  get done(): boolean {
    return this.epoch >= this.epochs || (this.early?.stopped ?? false);
  }

  get hasValidation(): boolean {
    return this.validation !== null;
  }

  /** Validation rows (0 without validation). */
  get validationSize(): number {
    return this.validation?.x.shape[0] ?? 0;
  }

  /** Early stopping's verdict so far: the best epoch and its valLoss, and whether it stopped training. */
  get earlyStopping(): { bestEpoch: number; bestValLoss: number | null; stopped: boolean } | null {
    return this.early && { bestEpoch: this.early.bestEpoch, bestValLoss: this.early.best, stopped: this.early.stopped };
  }

  /** The learning rate the next epoch will use (first parameter group). */
  get lr(): number {
    return (this.optimizer.stateDict().paramGroups[0]!.lr as number) ?? this.spec.training.optimizer.lr;
  }

  private lossOf(pred: Tensor, y: Tensor): Tensor {
    return this.spec.training.loss === 'sse' ? pred.sub(y).pow(2).sum() : mseLoss(pred, y, 'mean');
  }

  /**
   * Trains one epoch and returns its loss. When the loss is not finite, nothing is updated from that batch on,
   * `epoch` does not advance, and the non-finite value is returned.
   * After the epoch's steps, in PyTorch's order: the validation loss (lastValLoss), scheduler.step(), then early
   * stopping's bookkeeping (improved when valLoss + minDelta < best; stop after `patience` epochs without).
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
    if (this.validation) {
      const v = this.validation;
      this.lastValLoss = noGrad(() => this.lossOf(this.model.forward(v.x), v.y).item());
    }
    this.scheduler?.step();
    if (this.early && this.lastValLoss !== null) this.earlyStoppingStep(this.lastValLoss);
    const batches = batchCount(this.data.x.shape[0]!, batchSize);
    return batches === 1 ? total : total / batches;
  }

  private earlyStoppingStep(valLoss: number): void {
    const es = this.early!;
    const { patience, minDelta } = this.spec.training.earlyStopping!;
    // NaN compares false: a non-finite valLoss is no improvement.
    if (valLoss + (minDelta ?? 0) < (es.best ?? Infinity)) {
      es.best = valLoss;
      es.bestEpoch = this.epoch;
      es.wait = 0;
      this.bestWeights = this.model.stateDict();
    } else if (++es.wait >= patience) {
      es.stopped = true;
    }
  }

  /** The model as PyTorch names it, as a safetensors file (`torch` loads it into the equivalent module). */
  saveModel(): Uint8Array {
    return saveSafetensors(this.model.stateDict(), { format: 'pt' });
  }

  /**
   * The job's final checkpoint: with early stopping the best epoch's weights (when some epoch had a finite
   * valLoss), else the current ones. `epoch` is the epoch those weights are from.
   */
  finalModel(): { epoch: number; safetensors: Uint8Array } {
    if (this.early && this.bestWeights) {
      return { epoch: this.early.bestEpoch, safetensors: saveSafetensors(this.bestWeights, { format: 'pt' }) };
    }
    return { epoch: this.epoch, safetensors: this.saveModel() };
  }

  weightsFinite(): boolean {
    return this.model.parameters.every((p) => p.data.every(Number.isFinite));
  }

  snapshot(): ResumePoint {
    const meta: ResumeMeta = { format: RESUME_FORMAT, epoch: this.epoch, generator: this.gen.getState() };
    if (this.scheduler) meta.scheduler = this.scheduler.stateDict();
    if (this.early) meta.earlyStopping = { ...this.early };
    const extra: Record<string, Tensor> = {};
    if (this.bestWeights) for (const [k, t] of Object.entries(this.bestWeights)) extra[BEST_PREFIX + k] = t;
    return {
      epoch: this.epoch,
      safetensors: this.saveModel(),
      resumeState: optim.serializeOptimizerState(this.optimizer.stateDict(), { resume: JSON.stringify(meta) }, extra),
    };
  }

  private restore(resume: ResumePoint): void {
    const { metadata, tensors } = loadSafetensors(resume.resumeState);
    const meta = JSON.parse(metadata.resume ?? 'null') as ResumeMeta | null;
    if (!meta || meta.format !== RESUME_FORMAT) throw new Error(`not a gradloom resume state (format ${RESUME_FORMAT} expected)`);
    this.model.loadStateDict(loadSafetensors(resume.safetensors).tensors);
    this.optimizer.loadStateDict(optim.deserializeOptimizerState(resume.resumeState));
    this.gen.setState(meta.generator);
    this.epoch = meta.epoch;
    if (this.scheduler) {
      if (!meta.scheduler) throw new Error('the resume state has no learning-rate schedule state but the job has a schedule');
      this.scheduler.loadStateDict(meta.scheduler);
    }
    if (this.early) {
      if (!meta.earlyStopping) throw new Error('the resume state has no early-stopping state but the job stops early');
      Object.assign(this.early, meta.earlyStopping);
      const best: Record<string, Tensor> = {};
      for (const [k, t] of Object.entries(tensors)) if (k.startsWith(BEST_PREFIX)) best[k.slice(BEST_PREFIX.length)] = t;
      this.bestWeights = Object.keys(best).length > 0 ? best : null;
    }
  }

  /** Replaces the initial weights with a compatible state dict (same names and shapes), else invalid data. */
  private warmStart(bytes: Uint8Array): void {
    let sd: Record<string, Tensor>;
    try {
      sd = loadSafetensors(bytes).tensors;
    } catch (err) {
      throw new InvalidDataError(`warmStart: the checkpoint is not a readable safetensors file (${(err as Error).message})`);
    }
    const problem = checkWarmStartShapes(this.spec, Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.shape])), 'warmStart: the checkpoint');
    if (problem) throw new InvalidDataError(problem);
    this.model.loadStateDict(sd);
  }

  /** Forward pass without a graph (evaluation after training). */
  predict(x: Tensor): Tensor {
    return noGrad(() => this.model.forward(x));
  }
}
