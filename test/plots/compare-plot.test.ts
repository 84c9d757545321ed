/** renderComparePlot and the chart options it uses (dashed series, series left out of the legend, legend below). */
import { expect, test } from 'vitest';
import { renderChart } from '../../src/service/plots/chart.js';
import { COMPARE_COLORS, renderComparePlot, spansDecades } from '../../src/service/plots/compare-plot.js';
import { findAll, parseSvg, polylinePoints, series } from './svg-helpers.js';

const curve = (n: number, f: (e: number) => number | null, v?: (e: number) => number | null) =>
  Array.from({ length: n }, (_, i) => ({ epoch: i + 1, loss: f(i + 1), ...(v ? { valLoss: v(i + 1) } : {}) }));

test('log axis by default only when every loss is positive and they span three decades', () => {
  expect(spansDecades([{ label: 'a', epochs: curve(10, (e) => 10 ** -e) }])).toBe(true); // 1e-1 .. 1e-10
  expect(spansDecades([{ label: 'a', epochs: curve(10, (e) => 1 / e) }])).toBe(false); // one decade
  expect(spansDecades([{ label: 'a', epochs: curve(10, (e) => 10 ** -e) }, { label: 'b', epochs: curve(3, () => 0) }])).toBe(false);
  // A non-finite loss is ignored, a validation loss counts.
  expect(spansDecades([{ label: 'a', epochs: curve(3, (e) => (e === 2 ? NaN : 1), (e) => 10 ** -(e * 2)) }])).toBe(true);
  const scale = (log: boolean | 'auto') =>
    findAll(parseSvg(renderComparePlot({ runs: [{ label: 'a', epochs: curve(10, (e) => 10 ** -e) }], log })), (n) => n.attrs.class === 'y-axis')[0].attrs['data-scale'];
  expect([scale('auto'), scale(false), scale(true)]).toEqual(['log', 'linear', 'log']);
});

test('each run its colour; validation dashed, out of the legend; notes say what is missing and why', () => {
  const svg = renderComparePlot({
    runs: [
      { label: 'a · lr=0.1', epochs: curve(5, (e) => (e === 3 ? null : 1 / e), (e) => 2 / e) },
      { label: 'b · lr=0.01', epochs: [] },
    ],
    log: false,
  });
  const root = parseSvg(svg);
  expect(polylinePoints(series(root, 'a · lr=0.1'))).toHaveLength(4);
  const val = findAll(series(root, 'a · lr=0.1 (valLoss)'), (n) => n.name === 'polyline')[0].attrs;
  expect(val.stroke).toBe(COMPARE_COLORS[0]);
  expect(val['stroke-dasharray']).toBe('6 4');
  expect(series(root, 'b · lr=0.01').attrs['data-count']).toBe('0');
  const legend = findAll(root, (n) => n.attrs.class === 'legend')[0];
  expect(findAll(legend, (n) => n.name === 'text').map((n) => n.text)).toEqual(['a · lr=0.1', 'b · lr=0.01']);
  // The legend sits under the plot area, whose bottom moved up by the legend's rows.
  const frame = findAll(root, (n) => n.name === 'rect' && n.attrs.fill === 'none')[0];
  const legendTop = Math.min(...findAll(legend, (n) => n.name === 'text').map((n) => Number(n.attrs.y)));
  expect(legendTop).toBeGreaterThan(Number(frame.attrs.y) + Number(frame.attrs.height) + 40);
  expect(findAll(root, (n) => n.attrs.class === 'note')[0].text).toBe(
    'dashed: validation loss; a · lr=0.1: 1 epoch not shown (not finite); b · lr=0.01: no epochs yet',
  );
  expect(findAll(root, (n) => n.name === 'title')[0].text).toBe('Training loss: 2 jobs compared');
});

test('charts without the new options draw as before: legend over the plot, solid lines', () => {
  const root = parseSvg(
    renderChart({
      title: 't', description: 'd', xLabel: 'x', yLabel: 'y',
      series: [
        { label: 'one', kind: 'line', color: '#000', points: [[0, 0], [1, 1]] },
        { label: 'two', kind: 'points', color: '#111', points: [[0, 1]] },
      ],
    }),
  );
  const legendTexts = findAll(findAll(root, (n) => n.attrs.class === 'legend')[0], (n) => n.name === 'text');
  expect(legendTexts.map((n) => [n.text, n.attrs.x, n.attrs.y])).toEqual([['one', '114', '60'], ['two', '114', '78']]);
  expect(findAll(root, (n) => n.name === 'polyline')[0].attrs['stroke-dasharray']).toBeUndefined();
});
