export class EtaEstimator {
  constructor(timeConstantMs?: number, minGapMs?: number);
  timeConstantMs: number;
  minGapMs: number;
  last: [number, number] | null;
  observe(epoch: number, timeMs: number): void;
  msPerEpoch(): number | null;
  etaMs(epochs: number, nowMs: number): number | null;
}
