/**
 * The stream fan-out's cost per subscriber stays bounded when many subscribers watch one job (bench/load.ts measures
 * the time; these check the mechanisms): a subscriber still replaying keeps a bounded buffer of live epochs, trimmed
 * in bulk, with the same dropped-notice contract as a slow consumer; and subscribers replaying one job share its
 * history pages (read from the store once, the same message objects, so the route encodes each once).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBus } from '../../src/service/jobs/bus.js';
import { StreamFeed } from '../../src/service/jobs/feed.js';
import { StreamHub, type StreamSubscriber } from '../../src/service/jobs/hub.js';
import { newJobRecord } from '../../src/service/jobs/records.js';
import type { JobStore, StreamMessage } from '../../src/service/jobs/types.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { jobSpecSchema, type StoredJobSpec } from '../../src/spec/job-spec.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function recorder() {
  const messages: StreamMessage[] = [];
  let closed = false;
  const subscriber: StreamSubscriber = {
    send: (m) => (messages.push(m), true),
    close: () => void (closed = true),
    bufferedAmount: () => 0,
  };
  return { messages, subscriber, isClosed: () => closed };
}

const epoch = (k: number): Extract<StreamMessage, { type: 'epoch' }> => ({ type: 'epoch', epoch: k, loss: 1 / k });
const final = { type: 'status', status: 'succeeded', epoch: 1000, epochs: 1000, lastLoss: 0.001, error: null } as const;

describe('stream fan-out', () => {
  it('a subscriber still replaying holds at most 4 × the backlog of live epochs; then a dropped notice, the newest epochs, the status', () => {
    const hub = new StreamHub({ maxBacklog: 10 });
    const r = recorder();
    const sub = hub.attach('j', r.subscriber);
    let most = 0;
    for (let k = 1; k <= 1000; k++) {
      hub.publishEpochs('j', [epoch(k)]);
      most = Math.max(most, sub.pending!.length);
    }
    hub.publishFinal('j', final);
    expect(most).toBeLessThanOrEqual(40);
    // The replay read the first 5 epochs; everything after them arrived live while it ran.
    hub.completeReplay(sub, [1, 2, 3, 4, 5].map(epoch), null);
    const epochs = r.messages.filter((m) => m.type === 'epoch').map((m) => (m as { epoch: number }).epoch);
    const notices = r.messages.filter((m) => m.type === 'dropped');
    expect(epochs.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    const live = epochs.slice(5);
    expect(live.length).toBeLessThanOrEqual(40);
    expect(live.at(-1)).toBe(1000);
    expect(live).toEqual([...live].sort((a, b) => a - b));
    expect(notices).toHaveLength(1);
    // Every epoch the subscriber did not get is counted in the notice, and only those: epochs 1-5 were trimmed from the
    // live buffer too, but they came with the replay.
    expect((notices[0] as { count: number }).count).toBe(1000 - epochs.length);
    expect(r.messages.at(-1)).toEqual(final);
    expect(r.isClosed()).toBe(true);
  });

  it('20 subscribers replaying one job read each history page from the store once and get the same message objects', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-fanout-'));
    const store: JobStore = createSqliteStore({ dataDir });
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    cleanups.push(() => store.close());
    const spec = jobSpecSchema.parse({
      model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
      data: { kind: 'random', n: 4 },
      training: { epochs: 1600, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
      seed: 0,
    });
    await store.createJob(newJobRecord({ id: 'job-1', tenant: 't', spec: spec as unknown as StoredJobSpec, seed: 0, now: new Date().toISOString() }));
    const claim = await store.claimNext('node', 60_000);
    expect(claim?.job.id).toBe('job-1');
    const events = Array.from({ length: 1600 }, (_, i) => ({ epoch: i + 1, loss: 1 / (i + 1), elapsedMs: i }));
    for (let i = 0; i < events.length; i += 400) await store.appendEpochs(claim!.fence, events.slice(i, i + 400));
    await store.updateRun(claim!.fence, { status: 'succeeded', epoch: 1600, lastLoss: events.at(-1)!.loss, finishedAt: new Date().toISOString() });

    const reads: Array<[number, number]> = [];
    const counted: JobStore = new Proxy(store, {
      get(target, key, receiver) {
        if (key === 'getEpochs') {
          return (id: string, from: number, limit: number) => {
            reads.push([from, limit]);
            return target.getEpochs(id, from, limit);
          };
        }
        const v = Reflect.get(target, key, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const hub = new StreamHub({ maxBacklog: 100 });
    const feed = new StreamFeed(counted, new LocalBus(), hub, (err) => {
      throw err;
    });
    cleanups.push(() => feed.close());
    const rs = Array.from({ length: 20 }, () => recorder());
    await Promise.all(rs.map((r) => feed.subscribe('t', 'job-1', r.subscriber)));
    for (const r of rs) {
      expect(r.messages.filter((m) => m.type === 'epoch')).toHaveLength(1600);
      expect(r.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded', epoch: 1600 });
    }
    // Full pages of 500 from epochs 1, 501 and 1001: each read once, not once per subscriber. The short last page (the
    // live edge of a running job) is not kept, so each subscriber may read it.
    expect(reads.map(([from]) => from).filter((f) => f < 1501).sort((a, b) => a - b)).toEqual([1, 501, 1001]);
    expect(reads.filter(([from]) => from === 1501).length).toBeGreaterThanOrEqual(1);
    for (let k = 0; k < 1500; k += 97) expect(rs.every((r) => r.messages[k] === rs[0]!.messages[k])).toBe(true);

    // A reconnecting client (?from=k) costs only what it asks for: nothing before epoch k is read or sent.
    reads.length = 0;
    const tail = recorder();
    await feed.subscribe('t', 'job-1', tail.subscriber, 1201);
    expect(tail.messages.filter((m) => m.type === 'epoch').map((m) => (m as { epoch: number }).epoch)).toEqual(Array.from({ length: 400 }, (_, i) => 1201 + i));
    expect(tail.messages.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
    expect(Math.min(...reads.map(([from]) => from))).toBe(1201);
    const past = recorder();
    await feed.subscribe('t', 'job-1', past.subscriber, 5000);
    expect(past.messages).toEqual([expect.objectContaining({ type: 'status', status: 'succeeded', epoch: 1600 })]);
  });
});
