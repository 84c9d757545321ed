/** The dashboard's ETA estimator (public/js/eta.js) on its own: steady, noisy, bursty and changing paces. */
import { expect, test } from 'vitest';
import { EtaEstimator } from '../../public/js/eta.js';

/** Feeds epochs 1..n arriving at times[i]; returns the ETA read right after each arrival. */
function run(times: number[], epochs: number, estimator = new EtaEstimator()): Array<number | null> {
  return times.map((t, i) => {
    estimator.observe(i + 1, t);
    return estimator.etaMs(epochs, t);
  });
}

/** A seeded uniform in [0, 1): the jitter is the same on every run. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('a steady pace gives the exact time left, counting down between arrivals', () => {
  const eta = new EtaEstimator();
  expect(eta.etaMs(100, 0)).toBeNull();
  const etas = run(Array.from({ length: 10 }, (_, i) => 1000 + 50 * i), 100, eta);
  expect(etas.slice(0, 2)).toEqual([null, null]); // two timed intervals first
  for (let i = 2; i < 10; i++) expect(etas[i]).toBeCloseTo((100 - (i + 1)) * 50, 6);
  // 20 ms after epoch 10 arrived: 90 epochs × 50 ms − 20 ms.
  expect(eta.etaMs(100, 1000 + 450 + 20)).toBeCloseTo(90 * 50 - 20, 6);
  // An overdue epoch does not drive it below what the remaining epochs after it need.
  expect(eta.etaMs(100, 1000 + 450 + 400)).toBeCloseTo(89 * 50, 6);
  expect(eta.msPerEpoch()).toBeCloseTo(50, 9);
});

test('noisy epochs (±50% per epoch): the ETA falls steadily instead of jumping', () => {
  const rand = lcg(7);
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < 400; i++) times.push((t += 100 * (0.5 + rand())));
  const etas = run(times, 400) as number[];
  // After the first second, each reading is within 5% of the true remaining time at 100 ms per epoch...
  for (let i = 20; i < 390; i++) {
    const truth = (400 - (i + 1)) * 100;
    expect(Math.abs(etas[i] - truth) / truth).toBeLessThan(0.1);
  }
  // ...and never rises from one epoch to the next by more than 2% of itself (the per-sample estimate swings ±50%).
  for (let i = 21; i < 390; i++) expect(etas[i]).toBeLessThanOrEqual(etas[i - 1] * 1.02);
});

test('bursts (20 epochs per socket read, then a pause) give the same rate as evenly spaced epochs', () => {
  const times: number[] = [];
  for (let batch = 0; batch < 30; batch++) for (let k = 0; k < 20; k++) times.push(batch * 1000 + k * 0.05);
  const etas = run(times, 1000) as number[];
  // 20 epochs per second is 50 ms per epoch, whichever epoch of a batch the reading follows.
  const eta = new EtaEstimator();
  run(times, 1000, eta);
  expect(eta.msPerEpoch()!).toBeGreaterThan(45);
  expect(eta.msPerEpoch()!).toBeLessThan(52);
  // Within a burst the estimate barely moves (it would swing to ~0 and back with a per-sample average).
  for (let i = 120; i < 600; i++) if (i % 20 !== 0) expect(Math.abs(etas[i] - etas[i - 1])).toBeLessThan(0.02 * etas[i - 1] + 100);
});

test('a leading burst (the replay of epochs done before the page opened) does not make the job look fast', () => {
  const times = [...Array.from({ length: 500 }, (_, i) => i * 0.01), ...Array.from({ length: 50 }, (_, i) => 10 + 100 * (i + 1))];
  const etas = run(times, 1000) as Array<number | null>;
  // The burst only moves the anchor: the first two intervals timed are the live ones (epochs 501 and 502).
  for (let i = 0; i < 501; i++) expect(etas[i]).toBeNull();
  for (let i = 501; i < 550; i++) {
    const truth = (1000 - (i + 1)) * 100;
    expect(Math.abs(etas[i]! - truth) / truth).toBeLessThan(0.03);
  }
});

test('a change of pace is followed within a few time constants, without overshoot', () => {
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < 200; i++) times.push((t += 50)); // 10 s at 50 ms/epoch
  for (let i = 0; i < 300; i++) times.push((t += 200)); // then 60 s at 200 ms/epoch
  const eta = new EtaEstimator(10_000);
  const rates: number[] = [];
  times.forEach((time, i) => {
    eta.observe(i + 1, time);
    if (i >= 200) rates.push(eta.msPerEpoch()!);
  });
  for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeGreaterThanOrEqual(rates[i - 1] - 1e-9); // monotone approach
  expect(rates.at(-1)!).toBeGreaterThan(195);
  expect(rates.at(-1)!).toBeLessThanOrEqual(200 + 1e-9);
});

test('replayed or repeated epochs are ignored; the last epoch leaves nothing', () => {
  const eta = new EtaEstimator();
  run([0, 100, 200, 300], 10, eta);
  const before = eta.msPerEpoch();
  eta.observe(2, 5000);
  eta.observe(4, 6000);
  expect(eta.msPerEpoch()).toBe(before);
  eta.observe(10, 900);
  expect(eta.etaMs(10, 900)).toBe(0);
});
