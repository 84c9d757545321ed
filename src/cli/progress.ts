/** The terminal progress line for `--follow`: a bar, epoch, loss and ETA. Pure, so it is tested without a terminal. */

export interface ProgressState {
  epoch: number;
  epochs: number;
  loss: number | null;
  /** With validation data: the last epoch's validation loss. */
  valLoss?: number | null;
  etaMs: number | null;
}

export function formatLoss(loss: number | null | undefined): string {
  if (loss === null || loss === undefined) return '—';
  if (!Number.isFinite(loss)) return String(loss);
  const abs = Math.abs(loss);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return loss.toExponential(3);
  return String(Number(loss.toPrecision(4)));
}

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `[##########..........]  30/60  50%  loss 0.1234  ETA 3.2s` (and `val 0.2345` after the loss with validation) */
export function renderProgress(state: ProgressState, barWidth = 24): string {
  const fraction = state.epochs > 0 ? Math.min(1, Math.max(0, state.epoch / state.epochs)) : 0;
  const filled = Math.round(fraction * barWidth);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
  const width = String(state.epochs).length;
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const val = state.valLoss === undefined ? '' : `  val ${formatLoss(state.valLoss)}`;
  return `${bar} ${String(state.epoch).padStart(width)}/${state.epochs} ${pct}  loss ${formatLoss(state.loss)}${val}  ETA ${state.etaMs === null ? '?' : formatDuration(state.etaMs)}`;
}

/**
 * Time left from the arrival times of recent epochs (a sliding window, so a burst of replayed epochs at the start is
 * soon forgotten): remaining epochs × mean time per epoch in the window.
 */
export class EtaEstimator {
  private readonly samples: Array<[number, number]> = [];
  constructor(private readonly window = 200) {}

  add(epoch: number, timeMs: number): void {
    this.samples.push([epoch, timeMs]);
    if (this.samples.length > this.window) this.samples.shift();
  }

  etaMs(epochs: number): number | null {
    if (this.samples.length < 2) return null;
    const [e0, t0] = this.samples[0];
    const [e1, t1] = this.samples[this.samples.length - 1];
    if (e1 <= e0 || t1 < t0) return null;
    return Math.max(0, ((epochs - e1) * (t1 - t0)) / (e1 - e0));
  }
}
