// @ts-check
/**
 * Time left for a running job, from when its epochs arrive. Pure (no DOM), so vitest imports it as it is.
 *
 * The rate is a time-weighted average: the milliseconds and the epochs seen are both summed with weights that decay
 * by e^(-Δt/τ), and their ratio is the time per epoch. A burst (many epochs in one socket read, then a pause) adds its
 * epochs and its pause to the same sums, so the ratio stays right where a per-sample average would swing; one slow or
 * fast epoch moves it by Δt/τ at most. Between arrivals the estimate counts down with the clock.
 */
export class EtaEstimator {
  /**
   * @param {number} [timeConstantMs] τ: how much recent time the rate remembers (older time weighs e^-1 less per τ).
   * @param {number} [minGapMs] the clock starts at the first gap this long: a leading burst (epochs done before the
   *   page subscribed, replayed in one write) says nothing about the pace, so it only moves the anchor.
   */
  constructor(timeConstantMs = 10_000, minGapMs = 5) {
    this.timeConstantMs = timeConstantMs;
    this.minGapMs = minGapMs;
    /** @type {[number, number] | null} the last [epoch, timeMs] observed */
    this.last = null;
    this.weightedMs = 0;
    this.weightedEpochs = 0;
    this.intervals = 0;
  }

  /**
   * Epoch `epoch` finished; it arrived at `timeMs` (performance.now()). Epochs at or before the last one seen
   * (a replay after reconnecting) are ignored. The first call, and those in a burst right after it, only anchor the clock.
   * @param {number} epoch
   * @param {number} timeMs
   */
  observe(epoch, timeMs) {
    if (this.last === null) {
      this.last = [epoch, timeMs];
      return;
    }
    const [e0, t0] = this.last;
    if (epoch <= e0) return;
    const dt = Math.max(0, timeMs - t0);
    if (this.intervals === 0 && dt < this.minGapMs) {
      this.last = [epoch, timeMs];
      return;
    }
    const decay = Math.exp(-dt / this.timeConstantMs);
    this.weightedMs = this.weightedMs * decay + dt;
    this.weightedEpochs = this.weightedEpochs * decay + (epoch - e0);
    this.intervals++;
    this.last = [epoch, timeMs];
  }

  /** Milliseconds per epoch; null until two intervals have been timed. */
  msPerEpoch() {
    if (this.intervals < 2 || this.weightedEpochs <= 0 || this.weightedMs <= 0) return null;
    return this.weightedMs / this.weightedEpochs;
  }

  /**
   * Milliseconds left at `nowMs` until epoch `epochs`; null while the rate is unknown. Counts down between arrivals,
   * but never below the time the epochs after the current one need.
   * @param {number} epochs
   * @param {number} nowMs
   */
  etaMs(epochs, nowMs) {
    const rate = this.msPerEpoch();
    if (rate === null || this.last === null) return null;
    const [epoch, at] = this.last;
    const left = epochs - epoch;
    if (left <= 0) return 0;
    const sinceLast = Math.max(0, nowMs - at);
    return Math.max(left * rate - sinceLast, (left - 1) * rate);
  }
}
