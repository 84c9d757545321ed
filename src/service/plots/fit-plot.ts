/** The tutorial's figure: the training points of a 1-input regression and the line the model has fitted. */
import { renderChart } from './chart.js';
import { formatTick } from './ticks.js';

export interface FitPlotInput {
  jobLabel: string;
  /** Training rows: x[i][0] against y[i][0]. */
  x: number[][];
  y: number[][];
  /** nn.Linear(1, 1): y = weight·x + bias. */
  weight: number;
  bias: number;
  /** Which checkpoint the line comes from, for the note. */
  epoch?: number;
  width?: number;
  height?: number;
}

export function renderFitPlot(input: FitPlotInput): string {
  const points: Array<[number, number]> = input.x.map((row, i) => [row[0], input.y[i][0]]);
  const xsFinite = points.map((p) => p[0]).filter(Number.isFinite);
  const lo = xsFinite.length ? Math.min(...xsFinite) : 0;
  const hi = xsFinite.length ? Math.max(...xsFinite) : 1;
  const line: Array<[number, number]> = [
    [lo, input.weight * lo + input.bias],
    [hi, input.weight * hi + input.bias],
  ];
  const equation = `y = ${formatTick(input.weight)}·x ${input.bias < 0 ? '−' : '+'} ${formatTick(Math.abs(input.bias))}`;
  return renderChart({
    title: `Fitted line: ${input.jobLabel}`,
    description: `${points.length} training points and the fitted line ${equation}.`,
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { label: 'training data', kind: 'points', color: '#b34700', points },
      { label: `fit: ${equation}`, kind: 'line', color: '#1f5fbf', points: line },
    ],
    note: input.epoch !== undefined ? `line from the checkpoint at epoch ${input.epoch}` : undefined,
    width: input.width,
    height: input.height,
  });
}
