/** The loss chart's axis (public/js/loss-axis.js): log ticks, their labels, and when a curve opens on the log scale. */
import { expect, test } from 'vitest';
import { logTicks, spansDecades, tickLabels } from '../../public/js/loss-axis.js';

test('seven decades: one tick per power of ten, labelled without a single "0"', () => {
  const ticks = logTicks(1e-7, 1, 9);
  expect(ticks).toEqual([1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]);
  expect(tickLabels(ticks, true)).toEqual(['1e-7', '1e-6', '1e-5', '1e-4', '0.001', '0.01', '0.1', '1']);
});

test('more decades than fit: every second or third, counted from the top so the largest decade shows', () => {
  expect(logTicks(1e-12, 10, 9)).toEqual([1e-11, 1e-9, 1e-7, 1e-5, 1e-3, 1e-1, 10]);
  expect(logTicks(1e-30, 1, 9).length).toBeLessThanOrEqual(9);
  expect(logTicks(1e-30, 1, 9).at(-1)).toBe(1);
});

test('a short range gets 1, 2, 5 steps; labels are distinct', () => {
  expect(logTicks(0.01, 1, 9)).toEqual([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
  const labels = tickLabels(logTicks(1e-6, 1e-4, 9), true);
  expect(labels).toEqual(['1e-6', '2e-6', '5e-6', '1e-5', '2e-5', '5e-5', '1e-4']);
  expect(logTicks(0, 1, 9)).toEqual([]);
});

test('linear ticks below 0.001 keep their digits in one notation; zero stays 0', () => {
  expect(tickLabels([0, 0.00002, 0.00004, 0.00006], false)).toEqual(['0', '2e-5', '4e-5', '6e-5']);
  expect(tickLabels([0, 0.5, 1, 1.5], false)).toEqual(['0', '0.5', '1', '1.5']);
  expect(tickLabels([0.1 + 0.2, null], false)).toEqual(['0.3', '']);
});

test('a curve opens on the log scale from three decades on; non-positive and missing losses are left out', () => {
  expect(spansDecades([1, 0.5, 0.0011], 3)).toBe(false);
  expect(spansDecades([1, 0.5, 0.001], 3)).toBe(true);
  expect(spansDecades([1, 0, null, -5, 0.01], 3)).toBe(false);
  expect(spansDecades([], 3)).toBe(false);
});
