/** The loss curve of a job, as in the tutorial's training printout, as a picture. */
import { renderChart } from './chart.js';

export interface LossPlotInput {
  jobLabel: string;
  epochs: Array<{ epoch: number; loss: number | null }>;
  log?: boolean;
  /** e.g. 'mse' or 'sse', shown on the y axis. */
  lossName?: string;
  width?: number;
  height?: number;
}

export function renderLossPlot(input: LossPlotInput): string {
  const log = input.log ?? false;
  const finite = input.epochs.filter((e): e is { epoch: number; loss: number } => e.loss !== null && Number.isFinite(e.loss));
  const shown = log ? finite.filter((e) => e.loss > 0) : finite;
  const left = input.epochs.length - shown.length;
  const notes: string[] = [];
  if (input.epochs.length === 0) notes.push('no epochs finished yet');
  if (left > 0)
    notes.push(`${left} epoch${left === 1 ? '' : 's'} not shown (${log ? 'loss not positive or not finite on a log scale' : 'loss not finite'})`);
  const last = shown[shown.length - 1];
  return renderChart({
    title: `Training loss: ${input.jobLabel}`,
    description:
      shown.length === 0
        ? `No loss values to plot for ${input.jobLabel}.`
        : `Loss over ${shown.length} epochs for ${input.jobLabel}; at epoch ${last.epoch} the loss is ${last.loss}.`,
    xLabel: 'epoch',
    yLabel: input.lossName ? `loss (${input.lossName})` : 'loss',
    yLog: log,
    series: [{ label: 'loss', kind: 'line', color: '#1f5fbf', points: shown.map((e) => [e.epoch, e.loss]) }],
    note: notes.join('; ') || undefined,
    width: input.width,
    height: input.height,
  });
}
