// @ts-check
/** Formatting for people: losses, durations, job labels. Pure (no DOM), so vitest imports it as it is. */

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

/** The first 8 characters of a job id: enough to tell jobs apart on one screen; the full id is on the job page. */
export function shortId(id) {
  return String(id).slice(0, 8);
}

/** What to call a job: its name, or (unnamed) its model and short id, e.g. "linear_regression · 3f2a9c1e". */
export function jobLabel(job) {
  if (job.name) return job.name;
  const kind = job.spec?.model?.kind;
  return kind ? `${kind} · ${shortId(job.id)}` : shortId(job.id);
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
