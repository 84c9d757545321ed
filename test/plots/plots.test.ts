/** The pure SVG renderers: well-formed XML, the right number of points, nice monotone ticks, escaped user text. */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { decimate, formatTick, linearScale, logScale, renderChart, renderFitPlot, renderLossPlot } from '../../src/service/plots/index.js';
import { findAll, parseSvg, polylinePoints, series, tickValues } from './svg-helpers.js';

const TUTORIAL_X = [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167], [7.042], [10.791], [5.313], [7.997], [3.1]];
const TUTORIAL_Y = [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221], [2.827], [3.465], [1.65], [2.904], [1.3]];

const isNiceStep = (step: number) => {
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return [1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6);
};

test('linear ticks cover the data, increase by one nice step, and number about five', () => {
  fc.assert(
    fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (lo, span) => {
      // Spans below a millionth of the values are float noise, not something to plot.
      fc.pre(span > Math.abs(lo) * 1e-6);
      const hi = lo + span;
      const s = linearScale(lo, hi);
      const slack = 1e-9 * Math.max(span, Math.abs(lo)); // well below a pixel
      expect(s.ticks[0]).toBeLessThanOrEqual(lo + slack);
      expect(s.ticks.at(-1)!).toBeGreaterThanOrEqual(hi - slack);
      expect(s.ticks.length).toBeGreaterThanOrEqual(2);
      expect(s.ticks.length).toBeLessThanOrEqual(12);
      const step = s.ticks[1] - s.ticks[0];
      expect(isNiceStep(step)).toBe(true);
      for (let i = 1; i < s.ticks.length; i++) {
        expect(s.ticks[i]).toBeGreaterThan(s.ticks[i - 1]);
        expect(Math.abs(s.ticks[i] - s.ticks[i - 1] - step)).toBeLessThan(step * 1e-6);
      }
    }),
  );
  expect(linearScale(0.1726, 4.05).ticks).toEqual([0, 1, 2, 3, 4, 5]);
  expect(linearScale(1, 60).ticks).toEqual([0, 10, 20, 30, 40, 50, 60]);
  // A single value still gets an axis around it.
  expect(linearScale(3, 3).ticks.length).toBeGreaterThan(1);
});

test('log ticks are powers of ten (with 2 and 5 over few decades) covering the data', () => {
  // Ten decades: every other power of ten, so that labels do not collide.
  expect(logScale(3e-5, 3e4).ticks).toEqual([1e-6, 1e-4, 1e-2, 1, 100, 1e4, 1e6]);
  expect(logScale(3e-5, 3).ticks).toEqual([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10]);
  expect(logScale(0.17, 4.05).ticks).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10]);
  fc.assert(
    fc.property(fc.double({ min: -30, max: 30, noNaN: true }), fc.double({ min: 0, max: 40, noNaN: true }), (e0, span) => {
      const lo = 10 ** e0;
      const hi = 10 ** (e0 + span);
      const s = logScale(lo, hi);
      expect(s.ticks[0]).toBeLessThanOrEqual(lo * (1 + 1e-9));
      expect(s.ticks.at(-1)!).toBeGreaterThanOrEqual(hi * (1 - 1e-9));
      expect(s.ticks.length).toBeLessThanOrEqual(12);
      for (let i = 1; i < s.ticks.length; i++) expect(s.ticks[i]).toBeGreaterThan(s.ticks[i - 1]);
    }),
  );
  expect(() => logScale(0, 1)).toThrow(/positive finite bounds, got \[0, 1\]/);
});

test('tick labels are short', () => {
  expect(formatTick(0)).toBe('0');
  expect(formatTick(0.30000000000000004)).toBe('0.3');
  expect(formatTick(1e-7)).toBe('1e-7');
  expect(formatTick(25000)).toBe('25000');
  expect(formatTick(1.5e6)).toBe('1.5e6');
});

test('loss.svg: well-formed, one vertex per epoch, axes titled and ticked', () => {
  const epochs = Array.from({ length: 60 }, (_, i) => ({ epoch: i + 1, loss: 4 / (i + 1) + 0.17 }));
  const root = parseSvg(renderLossPlot({ jobLabel: 'regression', epochs, lossName: 'mse' }));
  expect(root.attrs.viewBox).toBe('0 0 640 400');
  expect(findAll(root, (n) => n.name === 'title')[0].text).toBe('Training loss: regression');
  const loss = series(root, 'loss');
  expect(loss.attrs['data-count']).toBe('60');
  const pts = polylinePoints(loss);
  expect(pts).toHaveLength(60);
  // Epochs grow to the right; a falling loss goes down the page (SVG y grows downwards).
  for (let i = 1; i < pts.length; i++) {
    expect(pts[i][0]).toBeGreaterThan(pts[i - 1][0]);
    expect(pts[i][1]).toBeGreaterThanOrEqual(pts[i - 1][1]);
  }
  const texts = findAll(root, (n) => n.name === 'text').map((n) => n.text);
  expect(texts).toContain('epoch');
  expect(texts).toContain('loss (mse)');
  const xTicks = tickValues(root, 'x-axis');
  const yTicks = tickValues(root, 'y-axis');
  expect(xTicks[0]).toBeLessThanOrEqual(1);
  expect(xTicks.at(-1)).toBeGreaterThanOrEqual(60);
  expect(yTicks[0]).toBeLessThanOrEqual(0.17 + 4 / 60);
  expect(yTicks.at(-1)).toBeGreaterThanOrEqual(4.17);
});

test('loss.svg on a log scale leaves out non-positive and missing losses and says how many', () => {
  const epochs = [
    { epoch: 1, loss: 100 },
    { epoch: 2, loss: 0 },
    { epoch: 3, loss: null },
    { epoch: 4, loss: 1e-3 },
  ];
  const root = parseSvg(renderLossPlot({ jobLabel: 'j', epochs, log: true }));
  expect(polylinePoints(series(root, 'loss'))).toHaveLength(2);
  expect(findAll(root, (n) => n.attrs.class === 'y-axis')[0].attrs['data-scale']).toBe('log');
  expect(tickValues(root, 'y-axis')).toEqual([1e-3, 1e-2, 1e-1, 1, 10, 100]);
  expect(findAll(root, (n) => n.attrs.class === 'note')[0].text).toBe('2 epochs not shown (loss not positive or not finite on a log scale)');
  // An empty job still gives a valid picture with a reason.
  const empty = parseSvg(renderLossPlot({ jobLabel: 'j', epochs: [] }));
  expect(findAll(empty, (n) => n.attrs.class === 'note')[0].text).toBe('no epochs finished yet');
});

test('fit.svg: one circle per training point and the line y = w·x + b across their x range', () => {
  const weight = 0.2827;
  const bias = 0.5808;
  const root = parseSvg(renderFitPlot({ jobLabel: 'regression', x: TUTORIAL_X, y: TUTORIAL_Y, weight, bias, epoch: 60 }));
  const points = series(root, 'training data');
  const circles = findAll(points, (n) => n.name === 'circle');
  expect(circles).toHaveLength(15);
  const line = polylinePoints(series(root, 'fit: y = 0.2827·x + 0.5808'));
  expect(line).toHaveLength(2);
  // Map pixels back through the axes: the line's ends are at min(x) and max(x) and on y = w·x + b.
  const xTicks = tickValues(root, 'x-axis');
  const yTicks = tickValues(root, 'y-axis');
  const tickPixels = (axis: 'x-axis' | 'y-axis') =>
    findAll(findAll(root, (n) => n.attrs.class === axis)[0], (n) => n.name === 'line' && n.attrs.stroke === '#d9d9d9').map((l) =>
      Number(axis === 'x-axis' ? l.attrs.x1 : l.attrs.y1),
    );
  const [xp, yp] = [tickPixels('x-axis'), tickPixels('y-axis')];
  const fromPx = (p: number, ticks: number[], px: number[]) => ticks[0] + ((p - px[0]) / (px.at(-1)! - px[0])) * (ticks.at(-1)! - ticks[0]);
  const [x0, y0] = [fromPx(line[0][0], xTicks, xp), fromPx(line[0][1], yTicks, yp)];
  const [x1, y1] = [fromPx(line[1][0], xTicks, xp), fromPx(line[1][1], yTicks, yp)];
  expect(x0).toBeCloseTo(2.167, 1);
  expect(x1).toBeCloseTo(10.791, 1);
  expect(y0).toBeCloseTo(weight * 2.167 + bias, 1);
  expect(y1).toBeCloseTo(weight * 10.791 + bias, 1);
  expect(findAll(root, (n) => n.attrs.class === 'note')[0].text).toBe('line from the checkpoint at epoch 60');
});

test('user text is escaped: a job name cannot inject markup or break the document', () => {
  const name = `<script>alert("x")</script> & 'quotes' \u0001\u0008 \uD800 ok`;
  const svg = renderLossPlot({ jobLabel: name, epochs: [{ epoch: 1, loss: 1 }] });
  expect(svg).not.toContain('<script>');
  const root = parseSvg(svg);
  expect(findAll(root, (n) => n.name === 'title')[0].text).toBe(`Training loss: <script>alert("x")</script> & 'quotes'   ok`);
  expect(findAll(root, (n) => n.name === 'script')).toHaveLength(0);
  // Series labels go into attributes too.
  const chart = parseSvg(
    renderChart({ title: 't', description: 'd', xLabel: 'x', yLabel: 'y', series: [{ label: 'a"b<c', kind: 'points', color: '#000', points: [[1, 1]] }] }),
  );
  expect(series(chart, 'a"b<c').children).toHaveLength(1);
});

test('long curves are reduced per pixel column, keeping their ends and extremes', () => {
  const n = 100_000;
  const points: Array<[number, number]> = Array.from({ length: n }, (_, i) => [i + 1, Math.sin(i / 500) + (i === 77_777 ? 5 : 0)]);
  const reduced = decimate(points, 540);
  expect(reduced.length).toBeLessThanOrEqual(4 * 540);
  expect(reduced[0]).toEqual(points[0]);
  expect(reduced.at(-1)).toEqual(points.at(-1));
  expect(reduced).toContainEqual(points[77_777]);
  const root = parseSvg(renderLossPlot({ jobLabel: 'long', epochs: points.map(([epoch, loss]) => ({ epoch, loss })) }));
  expect(series(root, 'loss').attrs['data-count']).toBe(String(n));
  expect(polylinePoints(series(root, 'loss')).length).toBeLessThanOrEqual(4 * 540);
});
