// @ts-check
/**
 * What the job page says about a job's checkpoints and inputs, from the job alone: which checkpoint to use, why
 * there is none, what the fit caption says before the first line, and the Predict box's default row and shape.
 * Pure (no DOM), so vitest imports it as it is.
 */
import { TERMINAL } from './format.js';

/** The checkpoint a download or the fitted line uses: the final one, else the one of the latest epoch. */
export function newestCheckpoint(items) {
  if (items.length === 0) return null;
  return items.find((c) => c.kind === 'final') ?? items.reduce((a, b) => (b.epoch > a.epoch ? b : a));
}

/** What the fit caption says while there is no line, from what the job keeps and where it is. */
export function noLineYet(job) {
  if (TERMINAL.includes(job.status)) return `This job ended (${job.status}) without a checkpoint, so there is no fitted line.`;
  const every = job.spec.checkpointEvery;
  return every
    ? `The fitted line appears with the first checkpoint (this job keeps one every ${every} epochs).`
    : 'The fitted line appears when the job finishes (set checkpointEvery to see it while it trains).';
}

/** Why a job has nothing to download, in the words of its status. */
export function noCheckpointReason(job) {
  const at = `epoch ${job.epoch} of ${job.epochs}`;
  switch (job.status) {
    case 'queued':
      return 'This job has not started yet, so it has no checkpoint to download.';
    case 'running':
      return job.spec.checkpointEvery
        ? `No checkpoint yet (${at}): this job keeps one every ${job.spec.checkpointEvery} epochs and when it finishes.`
        : `No checkpoint yet (${at}): this job keeps one when it finishes (set checkpointEvery for checkpoints while it trains).`;
    case 'cancelled':
      return `This job was cancelled at ${at} before it kept a checkpoint, so there are no weights to download.`;
    case 'failed':
      return `This job failed at ${at}${job.error ? ` (${job.error.code})` : ''} before it kept a checkpoint, so there are no weights to download.`;
    default:
      return `This job (${job.status}) has no stored checkpoint.`;
  }
}

/**
 * The Predict box's starting input: one row of the model's width (`first`, the job's first inline training row from
 * GET /v1/jobs/:id/data, when there is one; zeros otherwise), and a sentence on the shape the model takes and gives.
 */
export function predictDefault(spec, first) {
  const { inputDim, outputDim } = spec.model;
  const fromData = Array.isArray(first) && first.length === inputDim;
  const row = fromData ? first : new Array(inputDim).fill(0);
  return {
    text: JSON.stringify([row]),
    shape:
      `Each row has ${inputDim} ${inputDim === 1 ? 'number' : 'numbers'} (model.inputDim); the answer has ${outputDim} per row. ` +
      `Filled in with ${fromData ? 'the first training row' : 'zeros'}.`,
  };
}
