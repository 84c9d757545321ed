/** The --follow progress line and its ETA, without a terminal. */
import { expect, test } from 'vitest';
import { EtaEstimator, formatDuration, formatLoss, renderProgress } from '../../src/cli/progress.js';

test('the bar fills with the epochs done and shows epoch, percent, loss and ETA', () => {
  expect(renderProgress({ epoch: 0, epochs: 60, loss: null, etaMs: null }, 10)).toBe('[..........]  0/60   0%  loss —  ETA ?');
  expect(renderProgress({ epoch: 30, epochs: 60, loss: 0.19251, etaMs: 3200 }, 10)).toBe('[#####.....] 30/60  50%  loss 0.1925  ETA 3.2s');
  expect(renderProgress({ epoch: 500, epochs: 500, loss: 3.0067e-5, etaMs: 0 }, 10)).toBe('[##########] 500/500 100%  loss 3.007e-5  ETA 0ms');
  // With validation data, the validation loss follows the loss.
  expect(renderProgress({ epoch: 30, epochs: 60, loss: 0.19251, valLoss: 0.40778, etaMs: 3200 }, 10)).toBe(
    '[#####.....] 30/60  50%  loss 0.1925  val 0.4078  ETA 3.2s',
  );
});

test('losses and durations are short', () => {
  expect(formatLoss(13750.2)).toBe('13750');
  expect(formatLoss(2.5e7)).toBe('2.500e+7');
  expect(formatLoss(NaN)).toBe('NaN');
  expect(formatDuration(61_500)).toBe('1m02s');
  expect(formatDuration(3_726_000)).toBe('1h02m');
});

test('the ETA is the remaining epochs times the mean time per epoch in the window', () => {
  const eta = new EtaEstimator(3);
  expect(eta.etaMs(100)).toBeNull();
  eta.add(1, 1000);
  eta.add(2, 1010); // a burst (replayed epochs) ...
  expect(eta.etaMs(100)).toBe(98 * 10);
  eta.add(3, 2010);
  eta.add(4, 3010); // ... leaves the window: 1 s per epoch from here
  expect(eta.etaMs(100)).toBe(96 * 1000);
});
