/**
 * Webhooks end to end: the real runtime (SQLite store, worker threads, the dispatcher) and a real HTTP receiver on
 * loopback (node:http). Backoffs and timeouts are shortened; WEBHOOK_ALLOW_PRIVATE is on where a test needs the
 * loopback receiver, and off where it checks the refusal.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { buildApp, type App } from '../../src/service/app.js';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import { createJobManager, type JobRuntime, type NodeRole } from '../../src/service/jobs/manager.js';
import type { JobStore } from '../../src/service/jobs/types.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { LocalBus } from '../../src/service/jobs/bus.js';
import { newJobRecord } from '../../src/service/jobs/records.js';
import type { StoredJobSpec } from '../../src/spec/job-spec.js';
import { isNonPublicAddress } from '../../src/service/webhooks/address-policy.js';
import { WebhookDispatcher, type WebhookSettings } from '../../src/service/webhooks/dispatcher.js';
import { signatureHeader, tenantSigningSecret, verifySignature } from '../../src/service/webhooks/signing.js';
import { regressionSpec } from '../helpers/app.js';
import { inlineSummary } from '../helpers/inline.js';
import { dropSchema, NO_POSTGRES_REASON, postgresUrl, uniqueSchema } from '../helpers/postgres.js';
import { createPostgresStore } from '../../src/service/store/postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A webhook receiver on loopback. `answer` decides the status per request; null never answers. */
async function receiver(answer: (req: Received, nth: number) => number | null) {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  let open = 0;
  let maxOpen = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    open++;
    maxOpen = Math.max(maxOpen, open);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      const status = answer(r, received.filter((x) => x.path === r.path).length);
      if (status === null) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
      } else res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
    res.on('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path: string, host = '127.0.0.1') => `http://${host}:${port}${path}`,
    received,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The real runtime behind the app. */
async function runtime(webhooks: WebhookSettings, role: NodeRole = 'all') {
  const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-hooks-'));
  const store: JobStore = createSqliteStore({ dataDir });
  const manager: JobRuntime = createJobManager({
    store,
    role,
    logger: pino({ level: 'silent' }),
    workers: 2,
    maxQueued: 20,
    streamBufferMessages: 100,
    jobTimeoutMs: 60_000,
    cancelGraceMs: 2_000,
    webhooks: { pollMs: 50, ...webhooks },
  });
  await manager.start();
  const app: App = await buildApp({ config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2' }), manager, store, logger: false });
  await app.ready();
  return {
    app,
    store,
    manager,
    async close() {
      await manager.stop({ deadlineMs: 2_000 });
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const spec = (url: string, epochs = 5) => ({ ...regressionSpec, training: { ...regressionSpec.training, epochs }, webhook: { url } });

async function deliveries(app: App, jobId: string) {
  const res = await request(app.server).get(`/v1/jobs/${jobId}/webhooks`);
  expect(res.status).toBe(200);
  return res.body.items as Array<Record<string, unknown>>;
}

describe('webhook deliveries', () => {
  test('a finished job is delivered once, signed as documented; the delivery is listed as delivered', async () => {
    const rx = await receiver(() => 200);
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true });
    closers.push(rt.close);

    const job = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/ok')))).body;
    expect(job.spec.webhook).toEqual({ url: rx.url('/ok') });
    await until('the delivery', () => rx.received.length === 1);
    const [hit] = rx.received as [Received];
    expect(hit.path).toBe('/ok');
    expect(hit.headers['content-type']).toBe('application/json');
    const body = JSON.parse(hit.body);
    expect(hit.headers['gradloom-delivery']).toBe(body.id);
    expect(hit.headers['gradloom-event']).toBe('job.succeeded');
    expect(body.type).toBe('job.succeeded');
    const view = (await request(rt.app.server).get(`/v1/jobs/${job.id}`)).body;
    expect(body.data.job).toMatchObject({ id: job.id, status: 'succeeded', epoch: 5, lastLoss: view.lastLoss, finishedAt: view.finishedAt });
    // Inline rows are summarised, as in job views.
    expect(body.data.job.spec.data).toEqual(inlineSummary(regressionSpec.data));

    // The signature, checked the way docs/service.md tells receivers to (plain HMAC, nothing from gradloom).
    const { secret } = (await request(rt.app.server).get('/v1/webhooks/secret')).body as { secret: string };
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const header = String(hit.headers['gradloom-signature']);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    expect(m, header).not.toBeNull();
    const [, t, v1] = m!;
    expect(createHmac('sha256', secret).update(`${t}.${hit.body}`).digest('hex')).toBe(v1);
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(120);
    expect(verifySignature(secret, header, hit.body)).toBe(true);
    expect(verifySignature(secret, header, hit.body.replace('succeeded', 'failed'))).toBe(false);
    expect(verifySignature(tenantSigningSecret(Buffer.from('another server key'), 'default'), header, hit.body)).toBe(false);
    // Old timestamps are refused (replays).
    const old = Math.floor(Date.now() / 1000) - 3600;
    expect(verifySignature(secret, signatureHeader(secret, old, hit.body), hit.body)).toBe(false);

    const [d] = await until('the outcome', async () => {
      const items = await deliveries(rt.app, job.id);
      return items[0]?.status === 'delivered' ? items : null;
    });
    expect(d).toMatchObject({ id: body.id, event: 'job.succeeded', url: rx.url('/ok'), attempts: 1, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    expect(d!.deliveredAt).toEqual(expect.any(String));
    // Nothing more is sent.
    await sleep(300);
    expect(rx.received).toHaveLength(1);
    expect((await request(rt.app.server).get('/v1/jobs/nope/webhooks')).status).toBe(404);
  });

  test('a receiver answering 500 twice then 200 gets 3 attempts, with growing delays, of one delivery', async () => {
    const rx = await receiver((_r, nth) => (nth <= 2 ? 500 : 200));
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true, backoffMs: [150, 450, 1000] });
    closers.push(rt.close);

    const a = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/flaky')))).body.id as string;
    await until('three attempts', () => rx.received.length === 3);
    const [d] = await until('delivered', async () => {
      const items = await deliveries(rt.app, a);
      return items[0]?.status === 'delivered' ? items : null;
    });
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null });
    // Every attempt carries the same delivery id and the same bytes: receivers de-duplicate on the id.
    const ids = new Set(rx.received.map((r) => r.headers['gradloom-delivery']));
    expect(ids).toEqual(new Set([d!.id]));
    expect(new Set(rx.received.map((r) => r.body)).size).toBe(1);
    const [r1, r2, r3] = rx.received as [Received, Received, Received];
    const gap1 = r2.at - r1.at;
    const gap2 = r3.at - r2.at;
    expect(gap1).toBeGreaterThanOrEqual(140);
    expect(gap2).toBeGreaterThanOrEqual(440);
    expect(gap2).toBeGreaterThan(gap1);
    await sleep(300);
    expect(rx.received).toHaveLength(3);

    // Another job gets a delivery id of its own.
    const b = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/other')))).body.id as string;
    await until('the second job delivered', () => rx.received.some((r) => r.path === '/other'));
    const [db] = await deliveries(rt.app, b);
    expect(db!.id).not.toBe(d!.id);
  });

  test('gives up after the last attempt and records why', async () => {
    const rx = await receiver(() => 503);
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true, backoffMs: [20, 20] });
    closers.push(rt.close);
    const id = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/down')))).body.id as string;
    const [d] = await until('failed for good', async () => {
      const items = await deliveries(rt.app, id);
      return items[0]?.status === 'failed' ? items : null;
    });
    expect(d).toMatchObject({ attempts: 3, lastStatusCode: 503, nextAttemptAt: null });
    expect(d!.lastError).toBe('the receiver answered HTTP 503 (attempt 3 of 3: giving up)');
    expect(rx.received).toHaveLength(3);
  });

  test('a receiver that never answers times out; deliveries in flight are bounded; the API and training carry on', async () => {
    const rx = await receiver((r) => (r.path === '/hang' ? null : 200));
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true, timeoutMs: 4_000, maxInFlight: 2, backoffMs: [60_000] });
    closers.push(rt.close);

    const hung: string[] = [];
    for (let i = 0; i < 3; i++) hung.push((await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/hang')))).body.id as string);
    await until('two attempts hanging', () => rx.open === 2);
    // While two attempts hang: the API answers, and another job trains to the end.
    const other = (await request(rt.app.server).post('/v1/jobs').send({ ...regressionSpec, training: { ...regressionSpec.training, epochs: 5 } })).body.id;
    await until('the other job', async () => (await request(rt.app.server).get(`/v1/jobs/${other}`)).body.status === 'succeeded');
    expect((await request(rt.app.server).get('/v1/jobs?limit=10')).body.items).toHaveLength(4);
    expect(rx.open).toBe(2); // still hanging: nothing above waited for them
    // Never more than maxInFlight at once; each hung attempt ends at the timeout and is rescheduled.
    const timedOut = await until(
      'all three timed out',
      async () => {
        const lists = await Promise.all(hung.map((id) => deliveries(rt.app, id)));
        // A job's delivery exists once the job has ended; the third may still be training when polling starts.
        const all = lists.map((l) => l[0]);
        return all.every((d) => d !== undefined && d.lastError !== null) ? all.map((d) => d!) : null;
      },
      20_000,
    );
    for (const d of timedOut) expect(d).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null, lastError: 'timed out after 4000 ms without an answer' });
    expect(rx.maxOpen).toBe(2);
    expect(rx.received.filter((r) => r.path === '/hang')).toHaveLength(3);
  });

  test('the attempt timeout fires even when full garbage collections run during the attempt', async () => {
    // An AbortSignal.timeout inside AbortSignal.any can be collected before it fires (nodejs/node#57736); the attempt
    // then hung for as long as the receiver did (CI saw it under load). Collect every 20 ms while the attempt hangs.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const rx = await receiver(() => null);
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true, timeoutMs: 600, backoffMs: [60_000] });
    closers.push(rt.close);
    const collector = setInterval(gc, 20);
    closers.push(async () => clearInterval(collector));
    const id = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/hang')))).body.id as string;
    const [d] = await until(
      'the attempt timed out',
      async () => {
        const items = await deliveries(rt.app, id);
        return items[0]?.lastError ? items : null;
      },
      15_000,
    );
    expect(d).toMatchObject({ status: 'pending', attempts: 1, lastError: 'timed out after 600 ms without an answer' });
    await until('the hung connection closed by the timeout', () => rx.open === 0, 5_000);
  });

  test('a reset connection is a failed attempt (retried); stopping the node interrupts a hanging attempt, due again at once', async () => {
    const rx = await receiver((r) => (r.path === '/hang' ? null : 200));
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: true, timeoutMs: 30_000, backoffMs: [60_000] });
    closers.push(rt.close);
    // A server that accepts the connection and drops it.
    const { createServer: createTcpServer } = await import('node:net');
    const dropper = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => dropper.close(() => resolve())));
    const dropUrl = `http://127.0.0.1:${(dropper.address() as AddressInfo).port}/hook`;

    const reset = (await request(rt.app.server).post('/v1/jobs').send(spec(dropUrl))).body.id as string;
    const hang = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/hang')))).body.id as string;
    const [dr] = await until('the reset recorded', async () => {
      const items = await deliveries(rt.app, reset);
      return items[0]?.lastError ? items : null;
    });
    expect(dr).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
    expect(dr!.lastError).toMatch(/ECONNRESET|socket hang up/);
    await until('the hanging attempt', () => rx.open === 1);
    await rt.manager.stop({ deadlineMs: 2_000 });
    const [dh] = await rt.store.listWebhookDeliveries('default', hang);
    expect(dh).toMatchObject({ status: 'pending', attempts: 1, lastError: 'interrupted: this node shut down during the attempt' });
    expect(dh!.nextAttemptAt).toBeLessThanOrEqual(Date.now());
  });

  test('refuses loopback and private receivers unless WEBHOOK_ALLOW_PRIVATE is set, and says so on the delivery', async () => {
    const rx = await receiver(() => 200);
    closers.push(rx.close);
    const rt = await runtime({ allowPrivate: false });
    closers.push(rt.close);

    const literal = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/a')))).body.id as string;
    const named = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/b', 'localhost')))).body.id as string;
    const [d1] = await until('refused', async () => {
      const items = await deliveries(rt.app, literal);
      return items[0]?.status === 'failed' ? items : null;
    });
    expect(d1).toMatchObject({ attempts: 1, lastStatusCode: null });
    expect(d1!.lastError).toBe('refused: 127.0.0.1 is not a public address (set WEBHOOK_ALLOW_PRIVATE=1 on the server to allow internal receivers)');
    const [d2] = await until('refused', async () => {
      const items = await deliveries(rt.app, named);
      return items[0]?.status === 'failed' ? items : null;
    });
    // The name is resolved at delivery time and every address checked.
    expect(d2!.lastError).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), which is not a public address \(set WEBHOOK_ALLOW_PRIVATE=1/);
    expect(rx.received).toEqual([]);
  });

  test('cancelling a queued job delivers job.cancelled (an api node sends it)', async () => {
    const rx = await receiver(() => 204);
    closers.push(rx.close);
    // role 'api': nothing trains here, so the job stays queued until it is cancelled.
    const rt = await runtime({ allowPrivate: true }, 'api');
    closers.push(rt.close);
    const id = (await request(rt.app.server).post('/v1/jobs').send(spec(rx.url('/cancelled')))).body.id as string;
    expect((await request(rt.app.server).get(`/v1/jobs/${id}/webhooks`)).body).toEqual({ jobId: id, items: [] });
    expect((await request(rt.app.server).post(`/v1/jobs/${id}/cancel`)).body.status).toBe('cancelled');
    await until('the delivery', () => rx.received.length === 1);
    const body = JSON.parse(rx.received[0]!.body);
    expect(body).toMatchObject({ type: 'job.cancelled', data: { job: { id, status: 'cancelled', epoch: 0 } } });
    expect(rx.received[0]!.headers['gradloom-event']).toBe('job.cancelled');
    const [d] = await until('delivered', async () => {
      const items = await deliveries(rt.app, id);
      return items[0]?.status === 'delivered' ? items : null;
    });
    expect(d).toMatchObject({ id: body.id, attempts: 1, lastStatusCode: 204 });
  });

  test('at least once: a delivery whose node died mid-attempt is sent again, with the same id, when its lease runs out', async () => {
    const rx = await receiver(() => 200);
    closers.push(rx.close);
    const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-hooks-'));
    const store = createSqliteStore({ dataDir });
    closers.push(async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const job = newJobRecord({ id: 'j-lease', tenant: 't1', spec: spec(rx.url('/again')) as unknown as StoredJobSpec, seed: 0, now: new Date().toISOString() });
    await store.createJob(job);
    await store.requestCancel('t1', job.id, new Date().toISOString());
    // A node claims the delivery and dies before sending it (it never records an outcome).
    const [taken] = await store.claimWebhookDeliveries(10, 400);
    expect(taken).toMatchObject({ attempts: 1, status: 'pending' });
    const bus = new LocalBus();
    const dispatcher = new WebhookDispatcher({ store, bus, logger: pino({ level: 'silent' }), allowPrivate: true, pollMs: 50 });
    dispatcher.start();
    closers.push(() => dispatcher.stop());
    await sleep(200);
    expect(rx.received).toEqual([]); // the lease still holds
    await until('the second attempt', () => rx.received.length === 1);
    expect(rx.received[0]!.headers['gradloom-delivery']).toBe(taken!.id);
    expect(JSON.parse(rx.received[0]!.body)).toMatchObject({ id: taken!.id, type: 'job.cancelled', data: { job: { id: job.id } } });
    const [d] = await until('delivered', async () => {
      const items = await store.listWebhookDeliveries('t1', job.id);
      return items[0]?.status === 'delivered' ? items : null;
    });
    expect(d).toMatchObject({ attempts: 2, lastStatusCode: 200 });
    // The dead node's late outcome changes nothing.
    expect(await store.recordWebhookAttempt(taken!.id, 1, { delivered: false, statusCode: null, error: 'late', retryInMs: 0 })).toBe(false);
  });
});

// Two api nodes on one PostgreSQL database share the deliveries out (SKIP LOCKED): each is sent exactly once when
// every receiver answers at once.
describe.skipIf(!postgresUrl)(postgresUrl ? 'webhook dispatchers on PostgreSQL' : `webhook dispatchers on PostgreSQL (${NO_POSTGRES_REASON})`, () => {
  test('two nodes deliver 30 deliveries, each exactly once, signed alike', async () => {
    const schema = uniqueSchema('gl_hooks');
    closers.push(() => dropSchema(schema));
    const rx = await receiver(() => 200);
    closers.push(rx.close);
    const [s1, s2] = [await createPostgresStore({ connectionString: postgresUrl!, schema }), await createPostgresStore({ connectionString: postgresUrl!, schema })];
    closers.push(() => s1.close(), () => s2.close());
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const job = newJobRecord({ id: `pg-${i}`, tenant: 't1', spec: spec(rx.url(`/n${i}`)) as unknown as StoredJobSpec, seed: 0, now: new Date().toISOString() });
      await s1.createJob(job);
      await s1.requestCancel('t1', job.id, new Date().toISOString());
      ids.push((await s1.listWebhookDeliveries('t1', job.id))[0]!.id);
    }
    const nodes = [s1, s2].map(
      (store) => new WebhookDispatcher({ store, bus: new LocalBus(), logger: pino({ level: 'silent' }), allowPrivate: true, pollMs: 20, maxInFlight: 4 }),
    );
    for (const n of nodes) n.start();
    closers.push(async () => void (await Promise.all(nodes.map((n) => n.stop()))));
    await until('30 deliveries', () => rx.received.length >= 30);
    await sleep(300);
    expect(rx.received.map((r) => r.headers['gradloom-delivery']).sort()).toEqual([...ids].sort());
    const secret = tenantSigningSecret(await s2.sharedSecret('webhook_signing'), 't1');
    expect(rx.received.every((r) => verifySignature(secret, String(r.headers['gradloom-signature']), r.body))).toBe(true);
    const statuses = await Promise.all(ids.map(async (_id, i) => (await s2.listWebhookDeliveries('t1', `pg-${i}`))[0]!));
    expect(statuses.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
  });
});

describe('webhook configuration and address policy', () => {
  test('WEBHOOK_SECRET (redacted in errors) and WEBHOOK_ALLOW_PRIVATE', () => {
    expect(loadConfig({}).webhooks).toEqual({ allowPrivate: false });
    const secret = 'x'.repeat(40);
    expect(loadConfig({ WEBHOOK_SECRET: secret, WEBHOOK_ALLOW_PRIVATE: '1' }).webhooks).toEqual({ secret, allowPrivate: true });
    let error: unknown;
    try {
      loadConfig({ WEBHOOK_SECRET: 'short-secret', WEBHOOK_ALLOW_PRIVATE: 'yes' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('WEBHOOK_SECRET=<redacted>: must be at least 32 characters');
    expect((error as Error).message).not.toContain('short-secret');
    expect((error as Error).message).toContain('WEBHOOK_ALLOW_PRIVATE="yes": must be 0 or 1');
  });

  test('tenants get different secrets from one server key', () => {
    const key = Buffer.alloc(32, 7);
    expect(tenantSigningSecret(key, 'a')).not.toBe(tenantSigningSecret(key, 'b'));
    expect(tenantSigningSecret(key, 'a')).toBe(tenantSigningSecret(Buffer.alloc(32, 7), 'a'));
    expect(tenantSigningSecret(key, 'a')).not.toBe(tenantSigningSecret(Buffer.alloc(32, 8), 'a'));
  });

  test.each([
    ['127.0.0.1', true], ['127.255.0.9', true], ['10.1.2.3', true], ['172.16.0.1', true], ['172.31.255.255', true],
    ['192.168.1.1', true], ['169.254.169.254', true], ['100.64.0.1', true], ['0.0.0.0', true], ['224.0.0.1', true],
    ['::1', true], ['::', true], ['fc00::1', true], ['fd12:3456::1', true], ['fe80::1', true], ['ff02::1', true],
    ['::ffff:127.0.0.1', true], ['::ffff:10.0.0.1', true], ['not an address', true],
    ['8.8.8.8', false], ['172.32.0.1', false], ['1.1.1.1', false], ['2606:4700:4700::1111', false], ['::ffff:8.8.8.8', false],
  ])('%s is non-public: %s', (address, expected) => {
    expect(isNonPublicAddress(address)).toBe(expected);
  });
});
