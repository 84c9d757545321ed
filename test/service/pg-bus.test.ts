/**
 * PgBus: events between nodes over LISTEN/NOTIFY. Needs a PostgreSQL server (DATABASE_URL, which CI exports).
 * Each run uses a channel of its own so that concurrent runs on one server do not hear each other.
 */
import { postgresUrl } from '../helpers/postgres.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPgBus, PgBus } from '../../src/service/store/pg-bus.js';
import { LocalBus, type BusEvent } from '../../src/service/jobs/bus.js';
import { openStore } from '../../src/service/store/open.js';

// DATABASE_URL as the suite passes it to the tests that want PostgreSQL (see test/helpers/setup-env.ts).
const DATABASE_URL = postgresUrl;

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `ms` naming what was awaited. */
async function until(what: string, predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Without a server there is nothing to LISTEN on; CI sets DATABASE_URL so these always run there.
describe.skipIf(!DATABASE_URL)(
  DATABASE_URL ? 'PgBus' : 'PgBus (skipped: DATABASE_URL is not set; CI sets it)',
  () => {
    const channel = `gradloom_test_${randomBytes(6).toString('hex')}`;
    let pool: pg.Pool;
    const buses: PgBus[] = [];
    const open = async (nodeId: string): Promise<PgBus> => {
      const bus = await createPgBus({
        pool,
        listenConfig: { connectionString: DATABASE_URL },
        channel,
        nodeId,
        minBackoffMs: 20,
      });
      buses.push(bus);
      return bus;
    };
    beforeAll(() => {
      pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 });
    });
    afterEach(async () => {
      for (const b of buses.splice(0)) await b.close();
    });
    afterAll(async () => {
      await pool?.end();
    });

    it('delivers own events once, locally and synchronously with their epochs, and other nodes events without them', async () => {
      const a = await open('node-a');
      const b = await open('node-b');
      const atA: BusEvent[] = [];
      const atB: BusEvent[] = [];
      a.subscribe((e) => atA.push(e));
      b.subscribe((e) => atB.push(e));
      const events = [{ epoch: 1, loss: 0.5, elapsedMs: 1 }, { epoch: 2, loss: 0.25, valLoss: 0.3, elapsedMs: 2 }];
      a.publish({ kind: 'epochs', jobId: 'j1', from: 1, to: 2, events });
      expect(atA).toEqual([{ kind: 'epochs', jobId: 'j1', from: 1, to: 2, events }]); // synchronous
      a.publish({ kind: 'control', jobId: 'j1' });
      a.publish({ kind: 'jobs' });
      await until('node b to receive three events', () => atB.length >= 3);
      expect(atB).toEqual([
        { kind: 'epochs', jobId: 'j1', from: 1, to: 2 }, // the receiver reads the rows
        { kind: 'control', jobId: 'j1' },
        { kind: 'jobs' },
      ]);
      // Node b's own event reaches a; a's notifications came back to a too, and were ignored.
      b.publish({ kind: 'status', jobId: 'j1' });
      await until('node a to receive b\'s event', () => atA.length >= 4);
      expect(atA.slice(1)).toEqual([{ kind: 'control', jobId: 'j1' }, { kind: 'jobs' }, { kind: 'status', jobId: 'j1' }]);
      expect(atB).toHaveLength(4);
      expect(a.notifies).toBe(3);
    });

    it('keeps one node\'s publish order across a burst', async () => {
      const a = await open('node-a');
      const b = await open('node-b');
      const atB: BusEvent[] = [];
      b.subscribe((e) => atB.push(e));
      for (let k = 0; k < 200; k++) a.publish({ kind: 'epochs', jobId: 'j', from: k * 10 + 1, to: k * 10 + 10 });
      await until('200 events at node b', () => atB.length >= 200);
      expect(atB.map((e) => (e.kind === 'epochs' ? e.to : -1))).toEqual(Array.from({ length: 200 }, (_, k) => k * 10 + 10));
      // Batched: far fewer statements than events.
      expect(a.notifies).toBe(200);
      expect(a.notifyStatements).toBeLessThan(200);
    });

    it('survives a subscriber that throws', async () => {
      const a = await open('node-a');
      const b = await open('node-b');
      const atB: BusEvent[] = [];
      b.subscribe(() => {
        throw new Error('subscriber bug');
      });
      b.subscribe((e) => atB.push(e));
      a.publish({ kind: 'jobs' });
      a.publish({ kind: 'status', jobId: 'x' });
      await until('node b to receive both events', () => atB.length >= 2);
      expect(atB).toEqual([{ kind: 'jobs' }, { kind: 'status', jobId: 'x' }]);
    });

    it('re-listens after its connection is killed, then tells onReconnect listeners', async () => {
      const a = await open('node-a');
      const b = await open('node-b');
      const atB: BusEvent[] = [];
      let reconnects = 0;
      b.subscribe((e) => atB.push(e));
      b.onReconnect(() => reconnects++);
      const pid = (await b.listenerPid())!;
      const killed = await pool.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
      expect(killed.rows[0]!.ok).toBe(true);
      await until('onReconnect after the LISTEN connection was terminated', () => reconnects === 1);
      const newPid = await b.listenerPid();
      expect(newPid).not.toBeNull();
      expect(newPid).not.toBe(pid);
      a.publish({ kind: 'control', jobId: 'after-reconnect' });
      await until('an event over the new connection', () => atB.length >= 1);
      expect(atB).toEqual([{ kind: 'control', jobId: 'after-reconnect' }]);
      expect(reconnects).toBe(1);
    });

    it('replaces a LISTEN connection that stops answering (a silent network cut)', async () => {
      const a = await open('node-a');
      const b = await createPgBus({
        pool, listenConfig: { connectionString: DATABASE_URL }, channel, nodeId: 'node-b', minBackoffMs: 20, heartbeatMs: 100,
      });
      buses.push(b);
      const atB: BusEvent[] = [];
      let reconnects = 0;
      b.subscribe((e) => atB.push(e));
      b.onReconnect(() => reconnects++);
      const pid = await b.listenerPid();
      // What a half-open TCP connection looks like from here: queries are sent and never answered.
      const silenced = (b as unknown as { client: pg.Client }).client;
      silenced.query = (() => new Promise(() => {})) as unknown as pg.Client['query'];
      await until('onReconnect after the heartbeat went unanswered', () => reconnects === 1);
      expect(await b.listenerPid()).not.toBe(pid);
      a.publish({ kind: 'jobs' });
      await until('an event over the new connection', () => atB.length >= 1);
      expect(atB).toEqual([{ kind: 'jobs' }]);
    });

    it('comes with the PostgreSQL store from openStore, and LocalBus with SQLite', async () => {
      const schema = `gradloom_test_${randomBytes(6).toString('hex')}`;
      const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-open-'));
      const pgNode = await openStore({ databaseUrl: DATABASE_URL, dataDir, nodeId: 'n1', schema, channel });
      const embedded = await openStore({ dataDir, nodeId: 'n1' });
      try {
        expect(pgNode.store.kind).toBe('postgres');
        expect(pgNode.bus).toBeInstanceOf(PgBus);
        expect((pgNode.bus as PgBus).nodeId).toBe('n1');
        expect(embedded.store.kind).toBe('sqlite');
        expect(embedded.bus).toBeInstanceOf(LocalBus);
        await pgNode.store.ping();
      } finally {
        await pgNode.close();
        await embedded.close();
        await pool.query(`DROP SCHEMA ${schema} CASCADE`);
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('closes cleanly: no more deliveries, publish is a no-op', async () => {
      const a = await open('node-a');
      const seen: BusEvent[] = [];
      a.subscribe((e) => seen.push(e));
      await a.close();
      a.publish({ kind: 'jobs' });
      expect(seen).toEqual([]);
      expect(await a.listenerPid()).toBeNull();
    });
  },
);
