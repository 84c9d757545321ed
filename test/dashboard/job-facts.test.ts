/** What the job page says about checkpoints and inputs (public/js/job-facts.js), from the job alone. */
import { expect, test } from 'vitest';
import { newestCheckpoint, noCheckpointReason, noLineYet, predictDefault } from '../../public/js/job-facts.js';

const job = (status: string, over: object = {}) => ({ status, epoch: 3, epochs: 60, error: null, spec: { checkpointEvery: undefined as number | undefined }, ...over });

test('the checkpoint used: the final one, else the latest epoch of any kind (a cancelled job\'s resume point too)', () => {
  expect(newestCheckpoint([])).toBeNull();
  expect(newestCheckpoint([{ epoch: 60, kind: 'final' }, { epoch: 55, kind: 'periodic' }])).toEqual({ epoch: 60, kind: 'final' });
  expect(newestCheckpoint([{ epoch: 5, kind: 'periodic' }, { epoch: 12, kind: 'cancelled' }, { epoch: 10, kind: 'periodic' }])).toEqual({ epoch: 12, kind: 'cancelled' });
});

test('why there is nothing to download, per status', () => {
  expect(noCheckpointReason(job('queued'))).toBe('This job has not started yet, so it has no checkpoint to download.');
  expect(noCheckpointReason(job('running', { spec: { checkpointEvery: 5 } }))).toBe('No checkpoint yet (epoch 3 of 60): this job keeps one every 5 epochs and when it finishes.');
  expect(noCheckpointReason(job('running'))).toMatch(/^No checkpoint yet \(epoch 3 of 60\): this job keeps one when it finishes/);
  expect(noCheckpointReason(job('cancelled'))).toBe('This job was cancelled at epoch 3 of 60 before it kept a checkpoint, so there are no weights to download.');
  expect(noCheckpointReason(job('failed', { error: { code: 'diverged' } }))).toBe('This job failed at epoch 3 of 60 (diverged) before it kept a checkpoint, so there are no weights to download.');
  expect(noLineYet(job('running', { spec: { checkpointEvery: 5 } }))).toBe('The fitted line appears with the first checkpoint (this job keeps one every 5 epochs).');
  expect(noLineYet(job('failed'))).toBe('This job ended (failed) without a checkpoint, so there is no fitted line.');
});

test("the Predict default: the first inline row when it has the model's width, else zeros", () => {
  expect(predictDefault({ model: { inputDim: 1, outputDim: 1 }, data: { kind: 'inline', rows: 2 } }, [3.3]).text).toBe('[[3.3]]');
  expect(predictDefault({ model: { inputDim: 2, outputDim: 1 }, data: { kind: 'inline', rows: 2 } }, [3.3]).text).toBe('[[0,0]]');
  const wide = predictDefault({ model: { inputDim: 1000, outputDim: 10 }, data: { kind: 'random' } });
  expect(JSON.parse(wide.text)).toEqual([new Array(1000).fill(0)]);
  expect(wide.shape).toBe('Each row has 1000 numbers (model.inputDim); the answer has 10 per row. Filled in with zeros.');
});
