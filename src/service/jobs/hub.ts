/**
 * Fan-out of a job's live messages to its stream subscribers.
 *
 * Replay/live boundary: a subscriber is attached (and starts buffering live messages) BEFORE the manager reads the
 * epoch history from the store, and the manager persists epochs BEFORE publishing them. So every epoch is in the
 * history read, or in the live buffer, or both; `lastEpoch` drops the duplicates. No gaps, no duplicates.
 *
 * Slow consumers (the policy README documents): publishing never waits for a subscriber, so training and the
 * event loop are never slowed by one. A subscriber is congested while its transport holds more than
 * `maxBufferedBytes` unsent bytes. While congested, its epoch messages wait in a backlog of at most
 * `maxBacklog` messages; when the backlog is full the OLDEST waiting epochs are discarded and counted. As soon as
 * the transport drains (checked on every publish and every `pollMs`), the subscriber receives one
 * `{type:'dropped', count, reason:'slow_consumer'}` notice, then the backlog (the most recent epochs), then live
 * messages again. The final status message is never dropped: it is sent after whatever backlog is left, and the
 * stream is closed.
 */
import type { StreamMessage } from './types.js';

export interface StreamSubscriber {
  send(message: StreamMessage): boolean;
  close(): void;
  bufferedAmount(): number;
}

export interface HubOptions {
  /** Messages a congested subscriber may have waiting before the oldest are dropped (streamBufferMessages). */
  maxBacklog: number;
  /** Unsent bytes in a subscriber's transport above which it counts as congested. */
  maxBufferedBytes?: number;
  /** How often congested subscribers are re-checked when nothing is being published. */
  pollMs?: number;
}

type EpochMessage = Extract<StreamMessage, { type: 'epoch' }>;
type StatusMessage = Extract<StreamMessage, { type: 'status' }>;

export class Subscription {
  /** Live messages that arrived while the history was being replayed. */
  pending: StreamMessage[] | null = [];
  backlog: EpochMessage[] = [];
  dropped = 0;
  /**
   * Epochs trimmed from `pending`, as [first, last] runs: at the end of the replay only those after the last epoch
   * the history delivered count as dropped (the others arrived with the history).
   */
  trimmed: Array<[number, number]> = [];
  /** Highest epoch sent, queued or dropped: anything at or below it is a duplicate. */
  lastEpoch = 0;
  finished = false;
  closed = false;
  constructor(
    readonly jobId: string,
    readonly subscriber: StreamSubscriber,
  ) {}
}

export class StreamHub {
  private readonly byJob = new Map<string, Set<Subscription>>();
  private readonly maxBacklog: number;
  private readonly maxBufferedBytes: number;
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly congested = new Set<Subscription>();

  constructor(opts: HubOptions) {
    this.maxBacklog = Math.max(1, opts.maxBacklog);
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 1 << 20;
    this.pollMs = opts.pollMs ?? 50;
  }

  /** Step 1 of subscribing: from now on live messages after epoch `seenThrough` are buffered for this subscriber. */
  attach(jobId: string, subscriber: StreamSubscriber, seenThrough = 0): Subscription {
    const sub = new Subscription(jobId, subscriber);
    sub.lastEpoch = Math.max(0, seenThrough);
    let set = this.byJob.get(jobId);
    if (!set) this.byJob.set(jobId, (set = new Set()));
    set.add(sub);
    return sub;
  }

  /** Step 2 (repeatable): deliver a page of the history read after attach(); live messages keep being buffered. */
  replay(sub: Subscription, history: EpochMessage[]): void {
    for (const m of history) this.deliverNow(sub, m);
  }

  /**
   * Step 3: deliver the rest of the history, then whatever arrived meanwhile, and go live. `final` is the job's
   * status message when the job had already finished (re-read after the history), so the stream ends at once.
   */
  completeReplay(sub: Subscription, history: EpochMessage[], final: StatusMessage | null): void {
    if (sub.closed) return;
    this.replay(sub, history);
    for (const [first, last] of sub.trimmed) sub.dropped += Math.max(0, last - Math.max(first, sub.lastEpoch + 1) + 1);
    sub.trimmed = [];
    const pending = sub.pending ?? [];
    sub.pending = null;
    for (const m of pending) this.deliverNow(sub, m);
    if (final && !sub.finished) this.deliverNow(sub, final);
  }

  detach(sub: Subscription): void {
    sub.closed = true;
    this.congested.delete(sub);
    const set = this.byJob.get(sub.jobId);
    if (set) {
      set.delete(sub);
      if (set.size === 0) this.byJob.delete(sub.jobId);
    }
  }

  subscriberCount(jobId: string): number {
    return this.byJob.get(jobId)?.size ?? 0;
  }

  publishEpochs(jobId: string, epochs: EpochMessage[]): void {
    const set = this.byJob.get(jobId);
    if (!set) return;
    for (const sub of [...set]) {
      for (const e of epochs) this.deliver(sub, e);
    }
  }

  /** The job's last message: every subscriber gets it (after its backlog) and is closed. */
  publishFinal(jobId: string, status: StatusMessage): void {
    const set = this.byJob.get(jobId);
    if (!set) return;
    for (const sub of [...set]) this.deliver(sub, status);
  }

  /** Close every stream (shutdown), each with a final status message from `statusOf`. */
  closeAll(statusOf: (jobId: string) => StatusMessage | null): void {
    for (const [jobId, set] of [...this.byJob]) {
      const status = statusOf(jobId);
      for (const sub of [...set]) {
        if (status) this.deliver(sub, status);
        else this.end(sub);
      }
    }
  }

  private deliver(sub: Subscription, m: StreamMessage): void {
    if (sub.closed || sub.finished) return;
    if (sub.pending) {
      sub.pending.push(m);
      // A replay is a few store reads; bound the buffer anyway (keep the newest) so a stuck replay cannot grow it.
      if (sub.pending.length > this.maxBacklog * 4) this.trimPending(sub, sub.pending);
      return;
    }
    this.deliverNow(sub, m);
  }

  /**
   * Drops the oldest waiting epochs down to half the bound, in one pass: a splice per message made every live epoch
   * cost a copy of the whole buffer for each subscriber still replaying, and with 200 of them on a fast job that
   * was the whole event loop (bench/load.ts answered no HTTP request).
   */
  private trimPending(sub: Subscription, pending: StreamMessage[]): void {
    let excess = pending.length - this.maxBacklog * 2;
    const kept: StreamMessage[] = [];
    for (const m of pending) {
      if (excess > 0 && m.type === 'epoch') {
        excess--;
        const run = sub.trimmed.at(-1);
        if (run && run[1] + 1 === m.epoch) run[1] = m.epoch;
        else sub.trimmed.push([m.epoch, m.epoch]);
      } else kept.push(m);
    }
    sub.pending = kept;
  }

  private deliverNow(sub: Subscription, m: StreamMessage): void {
    if (sub.closed || sub.finished) return;
    if (m.type === 'status') {
      // Final: flush what is waiting (bounded by maxBacklog), send the status, close.
      sub.finished = true;
      this.flush(sub, true);
      this.send(sub, m);
      this.end(sub);
      return;
    }
    if (m.type === 'epoch') {
      if (m.epoch <= sub.lastEpoch) return;
      sub.lastEpoch = m.epoch;
      if (sub.backlog.length > 0 || sub.dropped > 0 || this.isCongested(sub)) {
        sub.backlog.push(m);
        if (sub.backlog.length > this.maxBacklog) {
          sub.backlog.shift();
          sub.dropped++;
        }
        this.flush(sub, false);
        if (sub.backlog.length > 0) this.watch(sub);
        return;
      }
    }
    this.send(sub, m);
  }

  private isCongested(sub: Subscription): boolean {
    try {
      return sub.subscriber.bufferedAmount() > this.maxBufferedBytes;
    } catch {
      return false;
    }
  }

  /** Send the dropped notice and as much backlog as the transport takes (all of it when `force`). */
  private flush(sub: Subscription, force: boolean): void {
    while ((sub.dropped > 0 || sub.backlog.length > 0) && !sub.closed) {
      if (!force && this.isCongested(sub)) return;
      if (sub.dropped > 0) {
        const count = sub.dropped;
        sub.dropped = 0;
        this.send(sub, { type: 'dropped', count, reason: 'slow_consumer' });
        continue;
      }
      this.send(sub, sub.backlog.shift()!);
    }
    this.congested.delete(sub);
  }

  private send(sub: Subscription, m: StreamMessage): void {
    if (sub.closed) return;
    let ok = false;
    try {
      ok = sub.subscriber.send(m);
    } catch {
      ok = false;
    }
    // false: the transport is gone (the peer left); stop feeding it.
    if (!ok) this.end(sub);
  }

  private end(sub: Subscription): void {
    if (sub.closed) return;
    this.detach(sub);
    try {
      sub.subscriber.close();
    } catch {
      // already closed by the peer
    }
  }

  private watch(sub: Subscription): void {
    this.congested.add(sub);
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const s of [...this.congested]) this.flush(s, false);
      if (this.congested.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, this.pollMs);
    this.timer.unref();
  }

  shutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
