/**
 * What the nodes of one deployment tell each other, after the store has the data: the store is the truth, an event
 * only says where to look. In one process (the embedded default) it is an in-process emitter that also carries the
 * epochs themselves, so a stream costs no read; across nodes it is PostgreSQL's LISTEN/NOTIFY
 * (src/service/store/pg-bus.ts), whose events carry ids and epoch ranges and the receiver reads the rows.
 *
 * Delivery is at most once and may be lost (a listener reconnecting): receivers treat events as hints, and
 * `onReconnect` tells them to re-read what they care about.
 */
import { EventEmitter } from 'node:events';
import type { EpochEvent, StreamMessage } from './types.js';

export type BusEvent =
  /** A job became claimable (submitted, or handed back by a draining worker): idle workers try to claim. */
  | { kind: 'jobs' }
  /** Epochs `from..to` of a job are stored. `events` is set when they travel in-process. */
  | { kind: 'epochs'; jobId: string; from: number; to: number; events?: EpochEvent[] }
  /**
   * A job's status changed in a way streams must show (finished, or deleted). `final` is the stream's last message
   * when the store could not record it (a full disk): streams end with it anyway.
   */
  | { kind: 'status'; jobId: string; final?: Extract<StreamMessage, { type: 'status' }> }
  /** Someone asked a running job to stop (cancel or delete): its worker re-checks its lease at once. */
  | { kind: 'control'; jobId: string };

export interface EventBus {
  publish(event: BusEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: BusEvent) => void): () => void;
  /** Called after the transport lost events (a reconnect): receivers re-read the state they track. */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}

/** The in-process bus: synchronous delivery, in publish order, nothing lost. */
export class LocalBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(event: BusEvent): void {
    this.emitter.emit('event', event);
  }

  subscribe(listener: (event: BusEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  onReconnect(_listener: () => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
