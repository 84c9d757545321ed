/**
 * Streams on an api node: the replay of a job's stored history, then its live epochs and final status, whichever
 * node trains it. The store is the truth; bus events say what changed (see bus.ts), and the feed reads what its own
 * subscribers need: an 'epochs' event from another node is a range to read, one from this process carries the
 * epochs themselves. The hub (hub.ts) does the fan-out, de-duplication by epoch and the slow-consumer policy.
 *
 * Per job, events are handled one at a time in arrival order (a promise chain), so a job's final status is sent
 * after every epoch stored before it.
 */
import type { EventBus, BusEvent } from './bus.js';
import type { StreamHub, StreamSubscriber } from './hub.js';
import type { EpochEvent, JobRecord, JobStore, StreamMessage } from './types.js';
import { TERMINAL_STATUSES } from './types.js';

type EpochMessage = Extract<StreamMessage, { type: 'epoch' }>;

/** Epochs read and sent per step of a replay. */
const REPLAY_PAGE = 500;
/**
 * The replay is paced by the subscriber: the next page is read only when its transport holds less than this many
 * unsent bytes. A storm of late subscribers on a long finished job then costs about a page each, not the whole
 * history each (bench/replay-storm.ts: 100 streams of a 100,000-epoch job peaked at ~2 GiB RSS before this).
 */
const REPLAY_DRAIN_BYTES = 128 * 1024;
/**
 * Full history pages stay shared for this long (at most REPLAY_CACHE_PAGES of them): a crowd of subscribers replaying
 * one job then reads each page from the store once and the stream route encodes each message once, instead of once
 * per subscriber (bench/load.ts: 200 subscribers on a live tutorial job spent most of the api node's event loop
 * replaying it). A stored epoch never changes (a resumed job re-does epochs to the same bits), so the only staleness
 * is a deleted job's pages, which nobody can subscribe to any more.
 */
const REPLAY_CACHE_MS = 5_000;
const REPLAY_CACHE_PAGES = 64;
/** A transport that makes no progress for this long is left to the hub's slow-consumer policy (bounded backlog). */
const REPLAY_STALL_MS = 30_000;

async function replayDrained(subscriber: { bufferedAmount(): number }, isClosed: () => boolean): Promise<void> {
  await new Promise((r) => setImmediate(r));
  let lowest = subscriber.bufferedAmount();
  let progressAt = Date.now();
  while (!isClosed() && subscriber.bufferedAmount() > REPLAY_DRAIN_BYTES) {
    await new Promise((r) => setTimeout(r, 5));
    const buffered = subscriber.bufferedAmount();
    if (buffered < lowest) {
      lowest = buffered;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > REPLAY_STALL_MS) {
      return;
    }
  }
}

export function statusMessage(job: JobRecord): Extract<StreamMessage, { type: 'status' }> {
  return {
    type: 'status',
    status: job.status,
    epoch: job.epoch,
    epochs: job.epochs,
    lastLoss: job.lastLoss,
    error: job.error,
  };
}

export function epochMessage(e: EpochEvent): Extract<StreamMessage, { type: 'epoch' }> {
  return e.valLoss === undefined
    ? { type: 'epoch', epoch: e.epoch, loss: e.loss }
    : { type: 'epoch', epoch: e.epoch, loss: e.loss, valLoss: e.valLoss };
}

interface Watched {
  tenant: string;
  /** The job as last read: the final message of a job deleted meanwhile is built from it. */
  job: JobRecord;
  /** Highest epoch handed to the hub for this job (live or replayed). */
  sent: number;
  chain: Promise<void>;
  /** Steps queued on the chain and not finished. */
  busy: number;
}

export class StreamFeed {
  private readonly watched = new Map<string, Watched>();
  private readonly unsubscribe: (() => void)[];
  /** `${jobId}:${from}` → a full page of history (or its read in flight), oldest first. */
  private readonly pages = new Map<string, { at: number; page: Promise<EpochMessage[]> }>();

  constructor(
    private readonly store: JobStore,
    private readonly bus: EventBus,
    private readonly hub: StreamHub,
    private readonly onError: (err: unknown, jobId: string) => void,
  ) {
    this.unsubscribe = [
      bus.subscribe((e) => this.onEvent(e)),
      bus.onReconnect(() => {
        for (const jobId of this.watched.keys()) this.enqueue(jobId, () => this.catchUp(jobId, true));
      }),
    ];
  }

  /**
   * Attach first, read the history second: every epoch is in the history read or arrives live (or both; the hub
   * drops duplicates by epoch number). Returns the unsubscribe function, or null when the job does not exist.
   */
  async subscribe(tenant: string, id: string, subscriber: StreamSubscriber, fromEpoch = 1): Promise<(() => void) | null> {
    const job = await this.store.getJob(tenant, id);
    if (!job) return null;
    // Nothing before fromEpoch is read or sent (a reconnecting client asks only for what it has not seen).
    const sub = this.hub.attach(id, subscriber, fromEpoch - 1);
    const w = this.watched.get(id) ?? { tenant, job, sent: 0, chain: Promise.resolve(), busy: 0 };
    this.watched.set(id, w);
    const detach = (): void => {
      this.hub.detach(sub);
      if (this.hub.subscriberCount(id) === 0) this.watched.delete(id);
    };
    try {
      // The history in pages, yielding between them: a long job's replay must not hold the event loop.
      const start = Math.max(1, fromEpoch);
      let from = start;
      let history = await this.historyPage(id, from);
      while (history.length === REPLAY_PAGE && !sub.closed) {
        this.hub.replay(sub, history);
        from = history[history.length - 1]!.epoch + 1;
        await replayDrained(subscriber, () => sub.closed);
        history = await this.historyPage(id, from);
      }
      const latest = await this.store.getJob(tenant, id);
      const final = !latest ? statusMessage({ ...job, status: 'cancelled' }) : TERMINAL_STATUSES.includes(latest.status) ? statusMessage(latest) : null;
      if (latest) w.job = latest;
      // Only what was read counts as sent: a replay that started past the job's last epoch read nothing.
      const lastReplayed = history.at(-1)?.epoch ?? (from > start ? from - 1 : 0);
      w.sent = Math.max(w.sent, lastReplayed);
      this.hub.completeReplay(sub, history, final);
    } catch (err) {
      detach();
      throw err;
    }
    return detach;
  }

  /** Up to REPLAY_PAGE epochs from `from`; a full page is shared with other replays for REPLAY_CACHE_MS. */
  private historyPage(id: string, from: number): Promise<EpochMessage[]> {
    const key = `${id}:${from}`;
    const now = Date.now();
    const cached = this.pages.get(key);
    if (cached && now - cached.at < REPLAY_CACHE_MS) return cached.page;
    const page = this.store.getEpochs(id, from, REPLAY_PAGE).then((events) => events.map(epochMessage));
    this.pages.delete(key);
    this.pages.set(key, { at: now, page });
    for (const [k, v] of this.pages) {
      if (this.pages.size <= REPLAY_CACHE_PAGES && now - v.at < REPLAY_CACHE_MS) break;
      this.pages.delete(k);
    }
    // Only full pages are history that will not grow; a short page (the live edge) or a failed read is not kept.
    page.then(
      (p) => {
        if (p.length < REPLAY_PAGE && this.pages.get(key)?.page === page) this.pages.delete(key);
      },
      () => {
        if (this.pages.get(key)?.page === page) this.pages.delete(key);
      },
    );
    return page;
  }

  /** Jobs with subscribers here, and their last known record (for closing streams at shutdown). */
  watchedJobs(): JobRecord[] {
    return [...this.watched.values()].map((w) => w.job);
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.watched.clear();
  }

  private onEvent(e: BusEvent): void {
    if (e.kind !== 'epochs' && e.kind !== 'status') return;
    if (!this.watched.has(e.jobId)) return;
    if (e.kind === 'epochs') {
      const events = e.events;
      if (events) {
        // In-process: publish now, in order (the chain is idle unless a read is in flight for this job).
        const w = this.watched.get(e.jobId)!;
        this.enqueueOrRun(e.jobId, () => this.publish(w, e.jobId, events));
      } else {
        this.enqueue(e.jobId, () => this.readRange(e.jobId, e.from, e.to));
      }
    } else {
      this.enqueue(e.jobId, () => this.catchUp(e.jobId, false, e.final));
    }
  }

  private publish(w: Watched, jobId: string, events: EpochEvent[]): void {
    if (events.length === 0) return;
    this.hub.publishEpochs(jobId, events.map(epochMessage));
    const last = events[events.length - 1]!;
    w.sent = Math.max(w.sent, last.epoch);
    w.job = { ...w.job, epoch: last.epoch, lastLoss: last.loss };
  }

  private async readRange(jobId: string, from: number, to: number): Promise<void> {
    const w = this.watched.get(jobId);
    if (!w) return;
    // Anything between what was sent and `from` was missed (a lost notification): read it too.
    const start = Math.min(from, w.sent + 1);
    if (to < start) return;
    this.publish(w, jobId, await this.store.getEpochs(jobId, start, to - start + 1));
  }

  /** Read what happened since the last event: new epochs, then the final status if the job has one. */
  private async catchUp(jobId: string, readEpochs: boolean, final?: Extract<StreamMessage, { type: 'status' }>): Promise<void> {
    const w = this.watched.get(jobId);
    if (!w) return;
    if (final) {
      // The store could not record it: end the stream with it, after whatever epochs can still be read.
      try {
        if (final.epoch > w.sent) this.publish(w, jobId, await this.store.getEpochs(jobId, w.sent + 1, final.epoch - w.sent));
      } finally {
        this.hub.publishFinal(jobId, final);
        this.watched.delete(jobId);
      }
      return;
    }
    const job = await this.store.getJob(w.tenant, jobId);
    if (!job) {
      this.hub.publishFinal(jobId, statusMessage({ ...w.job, status: 'cancelled' }));
      this.watched.delete(jobId);
      return;
    }
    const terminal = TERMINAL_STATUSES.includes(job.status);
    if ((readEpochs || terminal) && job.epoch > w.sent) {
      this.publish(w, jobId, await this.store.getEpochs(jobId, w.sent + 1, job.epoch - w.sent));
    }
    w.job = job;
    if (terminal) {
      this.hub.publishFinal(jobId, statusMessage(job));
      this.watched.delete(jobId);
    }
  }

  private enqueue(jobId: string, step: () => Promise<void> | void): void {
    const w = this.watched.get(jobId);
    if (!w) return;
    w.busy++;
    w.chain = w.chain
      .then(step)
      .catch((err) => this.onError(err, jobId))
      .finally(() => void w.busy--);
  }

  /** Runs at once when nothing is queued for the job (the common in-process case), else after what is queued. */
  private enqueueOrRun(jobId: string, step: () => void): void {
    const w = this.watched.get(jobId);
    if (!w) return;
    if (w.busy === 0) step();
    else this.enqueue(jobId, step);
  }
}
