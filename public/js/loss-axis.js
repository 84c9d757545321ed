// @ts-check
/**
 * The loss chart's y axis: where its ticks go on a log scale, how they are labelled, and when a curve should open on
 * the log scale. Pure (no DOM), so vitest imports it as it is.
 */

/** Ten to the k, written so that 1e-7 is exactly the number 1e-7 (10 ** -7 is 9.999999999999999e-8). */
const pow10 = (k, mantissa = 1) => Number(`${mantissa}e${k}`);

/**
 * Ticks for a log-scale axis from `min` to `max` (both > 0): powers of ten only, every second or third one when more
 * than `maxTicks` decades would crowd the axis (counted down from the top one, so the largest decade always shows);
 * 2× and 5× in between when the range is short enough to have room for them. Grid lines are drawn at the ticks, so
 * a range of many decades never turns into a band of minor lines.
 * @param {number} min
 * @param {number} max
 * @param {number} maxTicks
 * @returns {number[]}
 */
export function logTicks(min, max, maxTicks) {
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) return [];
  const limit = Math.max(2, Math.floor(maxTicks));
  const lo = Math.ceil(Math.log10(min) - 1e-9);
  const hi = Math.floor(Math.log10(max) + 1e-9);
  const decades = hi - lo + 1;
  const inRange = (v) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9);
  if (decades * 3 <= limit || decades < 1) {
    const ticks = [];
    for (let k = lo - 1; k <= hi; k++) for (const m of [1, 2, 5]) if (inRange(pow10(k, m))) ticks.push(pow10(k, m));
    return ticks.length > 0 ? ticks : [min, max];
  }
  const step = Math.ceil(decades / limit);
  const ticks = [];
  for (let k = lo; k <= hi; k++) if ((hi - k) % step === 0) ticks.push(pow10(k));
  return ticks;
}

/**
 * Labels for ticks, each distinct and none rounded to "0" unless it is zero: plain decimals from 0.001 to 1e6,
 * exponent form outside (1e-7, 2.5e-5). `log`: each tick is judged alone (decades differ widely); otherwise the
 * largest tick decides for the whole axis, so a linear axis does not mix notations.
 * @param {(number | null)[]} ticks
 * @param {boolean} log
 * @returns {string[]}
 */
export function tickLabels(ticks, log) {
  const finite = ticks.filter((v) => v !== null && Number.isFinite(v)).map((v) => Math.abs(/** @type {number} */ (v)));
  const largest = finite.length > 0 ? Math.max(...finite) : 0;
  const axisExponent = largest !== 0 && (largest < 1e-3 || largest >= 1e6);
  return ticks.map((v) => {
    if (v === null || !Number.isFinite(v)) return '';
    if (v === 0) return '0';
    const clean = Number(v.toPrecision(12));
    const abs = Math.abs(clean);
    const exponent = log ? abs < 1e-3 || abs >= 1e6 : axisExponent;
    return exponent ? clean.toExponential() : String(clean);
  });
}

/**
 * Whether a loss curve spans `decades` or more powers of ten (its largest positive loss over its smallest), the
 * point where a linear axis flattens all but the first epochs into the floor.
 * @param {(number | null)[]} losses
 * @param {number} [decades]
 */
export function spansDecades(losses, decades = 3) {
  let lo = Infinity;
  let hi = 0;
  for (const l of losses) {
    if (l === null || !(l > 0) || !Number.isFinite(l)) continue;
    if (l < lo) lo = l;
    if (l > hi) hi = l;
  }
  return hi > 0 && hi / lo >= 10 ** decades;
}
