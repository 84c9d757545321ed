/**
 * The epoch loop a training worker runs, with its messaging: coalesced epoch events, checkpoints, crash-recovery
 * snapshots, and the control word checked between epochs. Independent of threads: `post` is the MessagePort's
 * postMessage in a worker, or an array push in a test.
 *
 * Coalescing: the loop is synchronous, so timers cannot fire inside it; it batches epoch events and posts the batch
 * when `flushMs` has passed since the last post (and always before a checkpoint, a snapshot and the end). Every
 * epoch is posted exactly once, in order; at most ~1000/flushMs messages a second reach the runtime.
 *
 * With `training.validation` a 'split' message follows 'started', each epoch report carries valLoss, and with
 * early stopping the loop ends when the trainer says so; the end message then names the best epoch, whose weights
 * are the final checkpoint.
 *
 * Crash-recovery snapshots every `resumeSnapshotMs` (5 s by default, chosen by the runtime): a SIGKILL loses at most
 * that much training, while a snapshot of even a 10M-parameter model (~80 MB with Adam state, written in one SQLite
 * transaction) stays a small fraction of that interval.
 */
import { Control, type EpochReport, type TrainTask, type WorkerMessage } from './protocol.js';
import { InvalidDataError } from './data.js';
import { Trainer } from './trainer.js';

export type Post = (message: WorkerMessage, transfer?: ArrayBuffer[]) => void;

const buffersOf = (...arrays: Uint8Array[]): ArrayBuffer[] => arrays.map((a) => a.buffer as ArrayBuffer);

export function runTrainingLoop(task: Omit<TrainTask, 'port'>, post: Post, now: () => number = Date.now): void {
  const control = new Int32Array(task.control);
  post({ type: 'started' });
  let trainer: Trainer;
  try {
    trainer = Trainer.create(task.spec, task.data, task.resume, {
      validationData: task.validationData,
      initialWeights: task.initialWeights,
    });
  } catch (err) {
    if (err instanceof InvalidDataError) {
      post({ type: 'end', outcome: 'invalid_data', epoch: 0, message: err.message });
      return;
    }
    throw err;
  }
  if (trainer.hasValidation) {
    post({
      type: 'split',
      trainRows: trainer.trainRows,
      validationRows: trainer.validationSize,
      validationIndices: trainer.validationRows ? Array.from(trainer.validationRows) : null,
    });
  }
  let pending: EpochReport[] = [];
  let lastFlush = now();
  let lastSnapshot = now();
  const flush = (): void => {
    if (pending.length === 0) return;
    post({ type: 'epochs', events: pending });
    pending = [];
    lastFlush = now();
  };
  const snapshot = (type: 'checkpoint' | 'resume'): void => {
    const s = trainer.snapshot();
    post({ type, epoch: s.epoch, safetensors: s.safetensors, resumeState: s.resumeState }, buffersOf(s.safetensors, s.resumeState));
    lastSnapshot = now();
  };
  const checkpointEvery = task.spec.checkpointEvery;
  let lastLoss: number | null = null;

  while (!trainer.done) {
    const c = Atomics.load(control, 0);
    if (c === Control.CANCEL) {
      flush();
      post({ type: 'end', outcome: 'cancelled', epoch: trainer.epoch });
      return;
    }
    if (c === Control.SNAPSHOT_AND_STOP) {
      flush();
      snapshot('resume');
      post({ type: 'end', outcome: 'interrupted', epoch: trainer.epoch });
      return;
    }
    const loss = trainer.runEpoch();
    if (!Number.isFinite(loss)) {
      flush();
      const k = trainer.epoch + 1;
      // Keep the last finite weights as a checkpoint (they are the weights the diverging epoch started from).
      if (trainer.epoch > 0 && trainer.weightsFinite()) snapshot('checkpoint');
      post({ type: 'end', outcome: 'diverged', epoch: trainer.epoch, loss, message: `diverged at epoch ${k} (loss=${loss})` });
      return;
    }
    lastLoss = loss;
    const report: EpochReport = { epoch: trainer.epoch, loss, elapsedMs: now() - task.startedAtMs };
    if (trainer.hasValidation) report.valLoss = finiteOrNull(trainer.lastValLoss);
    pending.push(report);
    if (checkpointEvery !== undefined && trainer.epoch % checkpointEvery === 0 && !trainer.done) {
      flush();
      snapshot('checkpoint');
    } else if (task.resumeSnapshotMs > 0 && now() - lastSnapshot >= task.resumeSnapshotMs && !trainer.done) {
      flush();
      snapshot('resume');
    } else if (now() - lastFlush >= task.flushMs) {
      flush();
    }
  }
  flush();
  const final = trainer.finalModel();
  const end: Extract<WorkerMessage, { type: 'end'; outcome: 'succeeded' }> = {
    type: 'end',
    outcome: 'succeeded',
    epoch: trainer.epoch,
    loss: lastLoss,
    safetensors: final.safetensors,
  };
  if (trainer.hasValidation) end.valLoss = finiteOrNull(trainer.lastValLoss);
  const es = trainer.earlyStopping;
  if (es && es.bestValLoss !== null) end.best = { epoch: es.bestEpoch, valLoss: es.bestValLoss };
  if (es?.stopped) end.stoppedEarly = { epoch: trainer.epoch, bestEpoch: es.bestEpoch };
  post(end, buffersOf(final.safetensors));
}

const finiteOrNull = (v: number | null): number | null => (v !== null && Number.isFinite(v) ? v : null);
