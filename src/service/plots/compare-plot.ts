/** Several jobs' loss curves on one chart (GET /v1/jobs/compare.svg): a solid line each, its valLoss dashed. */
import { renderChart, type Series } from './chart.js';

export interface CompareRun {
  /** The legend's text for this job: who it is and its key hyperparameters. */
  label: string;
  epochs: Array<{ epoch: number; loss: number | null; valLoss?: number | null }>;
}

export interface ComparePlotInput {
  runs: CompareRun[];
  /** true / false, or 'auto' (default): log when every loss is positive and they span 3 decades or more. */
  log?: boolean | 'auto';
  /** e.g. 'mse', or 'mse / sse' when the jobs differ. */
  lossName?: string;
  width?: number;
  height?: number;
}

/** Ten colours told apart on white (each at least 3:1 against it), in legend order. */
export const COMPARE_COLORS = ['#1f5fbf', '#d95f02', '#1b7e5a', '#c2185b', '#6a3d9a', '#8c6d31', '#00838f', '#5a5a5a', '#7a7a00', '#d62728'];

export const COMPARE_DEFAULT_WIDTH = 800;

const usable = (v: number | null | undefined, log: boolean): v is number => typeof v === 'number' && Number.isFinite(v) && (!log || v > 0);

/** Whether the curves read better on a log axis: all positive and spanning three decades or more. */
export function spansDecades(runs: CompareRun[]): boolean {
  let min = Infinity;
  let max = -Infinity;
  for (const r of runs)
    for (const e of r.epochs)
      for (const v of [e.loss, e.valLoss]) {
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        if (v <= 0) return false;
        if (v < min) min = v;
        if (v > max) max = v;
      }
  return min <= max && max / min >= 1000;
}

export function renderComparePlot(input: ComparePlotInput): string {
  const log = input.log === 'auto' || input.log === undefined ? spansDecades(input.runs) : input.log;
  const series: Series[] = [];
  const notes: string[] = [];
  let anyVal = false;
  input.runs.forEach((run, i) => {
    const color = COMPARE_COLORS[i % COMPARE_COLORS.length];
    const loss = run.epochs.filter((e) => usable(e.loss, log)).map((e): [number, number] => [e.epoch, e.loss as number]);
    series.push({ label: run.label, kind: 'line', color, points: loss });
    const withVal = run.epochs.filter((e) => e.valLoss !== undefined && e.valLoss !== null);
    if (withVal.length > 0) {
      anyVal = true;
      const val = withVal.filter((e) => usable(e.valLoss, log)).map((e): [number, number] => [e.epoch, e.valLoss as number]);
      series.push({ label: `${run.label} (valLoss)`, kind: 'line', color, points: val, dashed: true, legend: false });
    }
    const left = run.epochs.length - loss.length;
    if (run.epochs.length === 0) notes.push(`${run.label}: no epochs yet`);
    else if (left > 0) notes.push(`${run.label}: ${left} epoch${left === 1 ? '' : 's'} not shown (${log ? 'not positive or not finite' : 'not finite'})`);
  });
  if (anyVal) notes.unshift('dashed: validation loss');
  const summary = input.runs
    .map((r) => {
      const last = r.epochs[r.epochs.length - 1];
      return last ? `${r.label}: loss ${last.loss} at epoch ${last.epoch}` : `${r.label}: no epochs yet`;
    })
    .join('; ');
  return renderChart({
    title: `Training loss: ${input.runs.length} job${input.runs.length === 1 ? '' : 's'} compared`,
    description: `Loss per epoch of ${input.runs.length} jobs${anyVal ? ' (validation loss dashed)' : ''}. ${summary}.`,
    xLabel: 'epoch',
    yLabel: input.lossName ? `loss (${input.lossName})` : 'loss',
    yLog: log,
    series,
    legendBelow: true,
    note: notes.join('; ') || undefined,
    width: input.width ?? COMPARE_DEFAULT_WIDTH,
    // Room for the legend's rows under a plot area as tall as a single job's.
    height: input.height ?? 400 + input.runs.length * 18 + 14,
  });
}
