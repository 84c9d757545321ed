/**
 * The EventBus across nodes: PostgreSQL LISTEN/NOTIFY on one channel.
 *
 * - Publishing delivers the event to this node's subscribers at once, synchronously and with its `events` (as
 *   LocalBus does), then queues it for `pg_notify` on the store's pool, fire and forget: a failed notify is logged,
 *   never thrown (events are hints; the store holds the truth). Other nodes receive one node's events in the order
 *   it published them.
 * - The payload is small JSON carrying the publishing node's id; 'epochs' travels without its events (receivers
 *   read the rows). Each node ignores its own notifications when they come back.
 * - One dedicated connection LISTENs. When it fails, ends or stops answering a heartbeat, it is replaced with backoff
 *   (100 ms doubling to 5 s); after LISTEN succeeds again the onReconnect listeners run, because notifications sent
 *   meanwhile are lost.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { BusEvent, EventBus } from '../jobs/bus.js';
import type { PgStoreLogger } from './postgres.js';

export const DEFAULT_BUS_CHANNEL = 'gradloom_events';
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7999;
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Events waiting for the database beyond this many are dropped, oldest first (they are hints; memory is bounded). */
const MAX_OUTBOX = 10_000;

export interface PgBusOptions {
  /** Used for publishing (the store's pool). */
  pool: pg.Pool;
  /** Config of the dedicated LISTEN connection (see pgClientConfig in postgres.ts). */
  listenConfig: pg.ClientConfig;
  channel?: string;
  /** This node's id; a random UUID when absent. */
  nodeId?: string;
  logger?: PgStoreLogger;
  /** The LISTEN connection must answer a query this often, else it is replaced. Default 10 000 ms. */
  heartbeatMs?: number;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Wire {
  n: string; // publishing node
  e: BusEvent;
}

export class PgBus implements EventBus {
  readonly nodeId: string;
  readonly channel: string;
  /** NOTIFYs sent, and the statements that carried them, for the cost figures in bench/store.ts. */
  notifies = 0;
  notifyStatements = 0;
  private readonly outbox: string[] = [];
  private flushing: Promise<void> | null = null;
  private dropping = false;
  private readonly listeners = new Set<(event: BusEvent) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private client: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private beating = false;
  private backoffMs: number;

  constructor(private readonly opts: PgBusOptions) {
    this.channel = opts.channel ?? DEFAULT_BUS_CHANNEL;
    if (!CHANNEL_NAME.test(this.channel)) {
      throw new Error(`bus channel ${JSON.stringify(this.channel)} is not a plain identifier (a-z, 0-9, _)`);
    }
    this.nodeId = opts.nodeId ?? randomUUID();
    this.backoffMs = opts.minBackoffMs ?? 100;
  }

  /** Opens the LISTEN connection; rejects when the first connection fails (later failures reconnect). */
  async start(): Promise<void> {
    await this.listen();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.opts.heartbeatMs ?? 10_000);
    this.heartbeatTimer.unref();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.opts.listenConfig);
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    client.on('notification', (msg) => {
      if (msg.channel === this.channel && msg.payload !== undefined) this.receive(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    // Only now does the bus own it: errors while connecting reject here instead of also scheduling a reconnect.
    this.client = client;
    this.backoffMs = this.opts.minBackoffMs ?? 100;
  }

  /**
   * A connection whose peer vanished without closing it (a network cut, a machine gone) raises no error: the bus
   * would stay deaf. A query that gets no answer within the heartbeat period counts as a lost connection.
   */
  private heartbeat(): void {
    const client = this.client;
    if (!client || this.beating) return;
    this.beating = true;
    const periodMs = this.opts.heartbeatMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the LISTEN connection did not answer a heartbeat within ${periodMs} ms`)), periodMs);
    });
    Promise.race([client.query('SELECT 1'), silence])
      .then(
        () => {},
        (err: Error) => this.lost(client, err),
      )
      .finally(() => {
        clearTimeout(timer);
        this.beating = false;
      });
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== client) return; // an old connection's late events
    this.client = null;
    client.end().catch(() => {});
    if (this.closed) return;
    this.opts.logger?.warn({ err: err ?? undefined }, 'event bus LISTEN connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().then(
        () => {
          if (this.closed) return;
          for (const listener of [...this.reconnectListeners]) {
            try {
              listener();
            } catch (err) {
              this.opts.logger?.warn({ err }, 'event bus onReconnect listener threw');
            }
          }
        },
        (err: unknown) => {
          this.opts.logger?.warn({ err }, 'event bus reconnect failed; retrying');
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private receive(payload: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(payload) as Wire;
    } catch {
      this.opts.logger?.warn({ payload: payload.slice(0, 200) }, 'event bus ignored an unreadable notification');
      return;
    }
    if (wire.n === this.nodeId || typeof wire.e !== 'object' || wire.e === null) return;
    this.deliver(wire.e);
  }

  private deliver(event: BusEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.opts.logger?.warn({ err, kind: event.kind }, 'event bus subscriber threw');
      }
    }
  }

  publish(event: BusEvent): void {
    if (this.closed) return;
    this.deliver(event);
    // The other nodes read the epochs from the store: the notification only says which ones exist.
    const wireEvent: BusEvent =
      event.kind === 'epochs' ? { kind: 'epochs', jobId: event.jobId, from: event.from, to: event.to } : event;
    const payload = JSON.stringify({ n: this.nodeId, e: wireEvent } satisfies Wire);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      this.opts.logger?.warn({ kind: event.kind, bytes: Buffer.byteLength(payload) }, 'event bus payload too large; not sent');
      return;
    }
    if (this.outbox.length >= MAX_OUTBOX) {
      this.outbox.shift();
      if (!this.dropping) {
        this.dropping = true; // once per episode, not once per event
        this.opts.logger?.warn({ pending: MAX_OUTBOX }, 'event bus outbox full (database slow or down); dropping oldest events');
      }
    }
    this.outbox.push(payload);
    this.flushing ??= this.flush();
  }

  /**
   * Sends the outbox in publish order: one statement at a time (statements on different pooled connections would
   * race), carrying every event published meanwhile. PostgreSQL delivers a transaction's notifications in order,
   * folding identical ones into one (two identical hints mean the same as one).
   */
  private async flush(): Promise<void> {
    try {
      while (this.outbox.length > 0) {
        const batch = this.outbox.splice(0, 100);
        this.notifies += batch.length;
        this.notifyStatements++;
        try {
          await this.opts.pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [this.channel, batch]);
        } catch (err) {
          this.opts.logger?.warn({ err, events: batch.length }, 'event bus notify failed (events lost)');
        }
      }
    } finally {
      this.flushing = null;
      this.dropping = false;
    }
  }

  subscribe(listener: (event: BusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** For tests and diagnostics: the server process id of the LISTEN connection, null while reconnecting. */
  async listenerPid(): Promise<number | null> {
    const client = this.client;
    if (!client) return null;
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return rows[0]!.pid;
  }

  /** Stops listening and delivering; events already published are still sent (close before ending the pool). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.reconnectTimer = null;
    this.listeners.clear();
    this.reconnectListeners.clear();
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => {});
  }
}

export async function createPgBus(opts: PgBusOptions): Promise<PgBus> {
  const bus = new PgBus(opts);
  await bus.start();
  return bus;
}
