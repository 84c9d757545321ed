// @ts-check
/** Formatting for people: losses, durations, ETAs. Pure (no DOM), so vitest imports it as it is. */

/** 4 significant digits; exponent form for very small or large values. */
export function formatLoss(loss) {
  if (loss === null || loss === undefined) return '—';
  if (!Number.isFinite(loss)) return String(loss);
  const abs = Math.abs(loss);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return loss.toExponential(3);
  return String(Number(loss.toPrecision(4)));
}

/** 950 → "950 ms", 61500 → "1 min 2 s". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

/**
 * Estimated time left, from the arrival times of recent epochs: remaining epochs × the mean time per epoch over the
 * window. `samples` is [epoch, timeMs] pairs in arrival order; null until two distinct epochs have been seen.
 */
export function estimateEtaMs(samples, epochs) {
  if (samples.length < 2) return null;
  const [e0, t0] = samples[0];
  const [e1, t1] = samples[samples.length - 1];
  if (e1 <= e0 || t1 < t0) return null;
  const perEpoch = (t1 - t0) / (e1 - e0);
  return Math.max(0, (epochs - e1) * perEpoch);
}

/** "12 s ago" style, for the jobs list. */
export function formatAgo(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 10);
}

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];
