/**
 * Axis ticks people can read: linear ticks at 1, 2 or 5 times a power of ten (Heckbert's "nice numbers"), and
 * log ticks at powers of ten (with 2 and 5 in between when the range spans few decades).
 */

export interface Scale {
  min: number;
  max: number;
  ticks: number[];
  log: boolean;
}

/** The nice number (1, 2, 5 or 10 times a power of ten) closest to `value`, rounded or taken from above. */
function niceNumber(value: number, round: boolean): number {
  const exponent = Math.floor(Math.log10(value));
  const fraction = value / 10 ** exponent;
  let nice: number;
  if (round) nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  else nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * 10 ** exponent;
}

/** Removes float noise such as 0.30000000000000004 so labels and comparisons stay clean. */
function clean(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(decimals, 20)));
}

/**
 * A linear scale covering [min, max] whose ends are ticks, with about `count` ticks. A degenerate range (one value,
 * or none) is widened around the value so that the plot still has an axis.
 */
export function linearScale(min: number, max: number, count = 5): Scale {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceNumber((max - min) / Math.max(1, count - 1), true);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(clean(lo + i * step, step));
  return { min: ticks[0], max: ticks[ticks.length - 1], ticks, log: false };
}

/**
 * A base-10 log scale covering [min, max] (both must be > 0). The ends are powers of ten; within few decades the
 * 2× and 5× ticks are added, across many decades only every k-th power is kept so that labels do not collide.
 */
export function logScale(min: number, max: number, maxTicks = 8): Scale {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new RangeError(`a log scale needs positive finite bounds, got [${min}, ${max}]`);
  }
  if (min > max) [min, max] = [max, min];
  let lo = Math.floor(Math.log10(min) + 1e-12);
  let hi = Math.ceil(Math.log10(max) - 1e-12);
  if (hi === lo) hi = lo + 1;
  const decades = hi - lo;
  const ticks: number[] = [];
  if (decades <= 2) {
    for (let e = lo; e <= hi; e++) for (const m of e === hi ? [1] : [1, 2, 5]) ticks.push(Number((m * 10 ** e).toPrecision(12)));
  } else {
    const every = Math.ceil((decades + 1) / maxTicks);
    lo = Math.floor(lo / every) * every;
    hi = Math.ceil(hi / every) * every;
    for (let e = lo; e <= hi; e += every) ticks.push(Number((10 ** e).toPrecision(12)));
  }
  return { min: ticks[0], max: ticks[ticks.length - 1], ticks, log: true };
}

/** Short labels: 0.001 → "0.001", 1e-7 → "1e-7", 25000 → "25000", 1.5e6 → "1.5e6". */
export function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e-3 && abs < 1e5) return String(Number(value.toPrecision(6)));
  const [mantissa, exponent] = value.toExponential().split('e');
  return `${Number(Number(mantissa).toPrecision(6))}e${Number(exponent)}`;
}

/** Where a value lands in pixels: `from` at scale.min, `to` at scale.max. */
export function project(scale: Scale, value: number, from: number, to: number): number {
  const t = scale.log
    ? (Math.log10(value) - Math.log10(scale.min)) / (Math.log10(scale.max) - Math.log10(scale.min))
    : (value - scale.min) / (scale.max - scale.min);
  return from + t * (to - from);
}
