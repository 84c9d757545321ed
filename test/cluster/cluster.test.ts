/**
 * gradloom as separate processes on one PostgreSQL database: api nodes and worker nodes (`node dist/src/service/main.js`
 * with ROLE=api|worker), on loopback, with real signals. Every job must end exactly as a single-process run of the
 * same spec ends (same epoch history, same checkpoint bytes), whatever happens to the workers:
 * - SIGKILL of a worker mid-run: its lease runs out, the other worker resumes the job from its newest snapshot;
 *   a stream opened on the api node before the kill receives every epoch once, in order, and the final status.
 * - SIGSTOP of a worker past its lease, then SIGCONT: the job was claimed again meanwhile; the paused worker's
 *   writes are fenced off (it logs that its claim was lost) and the job still ends bit for bit right.
 * - cancel through a second api node reaches the worker that runs the job.
 * - a job that ends on a worker node is told to its webhook once, by one of the two api nodes, signed with the key
 *   both api nodes derive from the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, waitJob, type ChildServer } from '../hardening/child-server.js';
import { loadFixture } from '../helpers/fixtures.js';
import { dropSchema, postgresUrl, uniqueSchema } from '../helpers/postgres.js';
import { openStream, summarize } from '../helpers/ws.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/service/webhooks/signing.js';

/** The tutorial's two-layer program, run longer than the tutorial so that a worker can be stopped in the middle. */
const EPOCHS = 3000;
const spec = (epochs = EPOCHS) => ({
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
});
const LEASE_MS = 1500;

interface Outcome {
  losses: number[];
  epochs: number[];
  checkpoint: Buffer;
}

async function outcome(s: ChildServer, id: string): Promise<Outcome> {
  const m = await s.call('GET', `/v1/jobs/${id}/metrics`, null);
  expect(m.status).toBe(200);
  const rows = (m.json.epochs ?? m.json.items ?? m.json) as { epoch: number; loss: number }[];
  const c = await s.call('GET', `/v1/jobs/${id}/checkpoint`, null);
  expect(c.status).toBe(200);
  return { losses: rows.map((r) => r.loss), epochs: rows.map((r) => r.epoch), checkpoint: c.bytes };
}

const logOf = (s: ChildServer, msg: string, jobId?: string) =>
  s.logs.filter((l) => l.msg === msg && (jobId === undefined || l.jobId === jobId));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!postgresUrl)('api and worker nodes on PostgreSQL (real processes)', () => {
  const schema = uniqueSchema('gl_cluster');
  const nodes: ChildServer[] = [];
  let reference: Outcome;
  let api: ChildServer;
  let api2: ChildServer;

  const env = (role: string, extra: Record<string, string> = {}) => ({
    DATABASE_URL: postgresUrl!,
    DATABASE_SCHEMA: schema,
    ROLE: role,
    LEASE_MS: String(LEASE_MS),
    RESUME_SNAPSHOT_MS: '100',
    WORKERS: '1',
    SHUTDOWN_DEADLINE_MS: '3000',
    ...extra,
  });
  const start = async (role: string, extra: Record<string, string> = {}) => {
    const s = await startServer(env(role, extra));
    nodes.push(s);
    return s;
  };

  beforeAll(async () => {
    // The single-process run every cluster job must equal: the embedded service (SQLite), same spec.
    const single = await startServer({ DATA_DIR: mkdtempSync(join(tmpdir(), 'gl-single-')), WORKERS: '1' });
    nodes.push(single);
    const r = await single.call('POST', '/v1/jobs', null, spec());
    expect(r.status).toBe(201);
    await waitJob(single, '', r.json.id);
    reference = await outcome(single, r.json.id);
    single.proc.kill('SIGTERM');
    await single.exited;
    // The test polls job statuses often (no per-tenant request rate limit), and the webhook receiver of the last
    // test listens on loopback.
    const apiEnv = { RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_ALLOW_PRIVATE: '1' };
    api = await start('api', apiEnv);
    api2 = await start('api', apiEnv);
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await dropSchema(schema);
  });

  it('the reference run is the tutorial: its first 500 losses are PyTorch\'s, bit for bit', () => {
    const torch = loadFixture('two_layer_autograd');
    expect(reference.losses.slice(0, 500)).toEqual(torch.json.losses);
    expect(reference.epochs).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
  });

  it('a worker SIGKILLed mid-run loses nothing: the other worker resumes its job after the lease; every job equals the single-process run', async () => {
    const wA = await start('worker', { NODE_ID: 'worker-a' });
    const wB = await start('worker', { NODE_ID: 'worker-b' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api.call('POST', '/v1/jobs', null, spec());
      expect(r.status).toBe(201);
      ids.push(r.json.id);
    }
    // Streams opened on the api node before anything happens to the workers.
    const streams = ids.map((id) => openStream(api.base.replace('http://', ''), id));
    // The job worker-a runs, once it is well under way (and has snapshots to resume from).
    const victim = await until('worker-a to start a job', () => logOf(wA, 'job started')[0]?.jobId as string | undefined);
    const atKill = await until('the victim to pass epoch 600', async () => {
      const j = (await api.call('GET', `/v1/jobs/${victim}`, null)).json;
      return j.epoch >= 600 && j.status === 'running' ? j.epoch : undefined;
    });
    wA.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await wA.exited;

    const resumed = await until('worker-b to resume the victim', () => logOf(wB, 'job resuming from snapshot', victim)[0], 30_000);
    const recoveryMs = Number(resumed.time) - killedAt;
    const resumedFrom = Number(resumed.epoch);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(atKill + 50);
    // Claimed again only after the lease ran out (plus a poll), and not much later.
    expect(recoveryMs).toBeGreaterThan(0);
    expect(recoveryMs).toBeLessThan(LEASE_MS + 15_000);

    for (const id of ids) {
      const job = await waitJob(api, '', id);
      expect(job.status).toBe('succeeded');
      const got = await outcome(api, id);
      expect(got.epochs).toEqual(reference.epochs);
      expect(got.losses).toEqual(reference.losses);
      expect(Buffer.compare(got.checkpoint, reference.checkpoint)).toBe(0);
    }
    for (const s of streams) {
      const { epochs, final } = summarize(await s.done);
      expect(epochs.map((e) => e.epoch)).toEqual(reference.epochs);
      expect(epochs.map((e) => e.loss)).toEqual(reference.losses);
      expect(final).toMatchObject({ status: 'succeeded', epoch: EPOCHS });
    }
    console.log(
      `[cluster] SIGKILL at epoch ${atKill}; resumed from epoch ${resumedFrom} by worker-b ${recoveryMs} ms after the kill ` +
        `(lease ${LEASE_MS} ms); epochs re-done: ${atKill - resumedFrom}`,
    );
    wB.proc.kill('SIGTERM');
    await wB.exited;
  }, 180_000);

  it('a worker SIGSTOPped past its lease writes nothing after SIGCONT: the new owner finishes the job bit for bit', async () => {
    const wC = await start('worker', { NODE_ID: 'worker-c' });
    const r = await api.call('POST', '/v1/jobs', null, spec());
    const id = r.json.id as string;
    await until('worker-c to run the job', async () => {
      const j = (await api.call('GET', `/v1/jobs/${id}`, null)).json;
      return j.status === 'running' && j.epoch >= 300 ? true : undefined;
    });
    wC.proc.kill('SIGSTOP');
    const wD = await start('worker', { NODE_ID: 'worker-d' });
    await until('worker-d to take the job over', () => logOf(wD, 'job resuming from snapshot', id)[0] ?? logOf(wD, 'job started', id)[0], 30_000);
    // Let worker-d make progress, then wake worker-c up while the job is still running on worker-d.
    await until('progress on worker-d', async () => {
      const j = (await api.call('GET', `/v1/jobs/${id}`, null)).json;
      return j.epoch >= 1200 || j.status === 'succeeded' ? true : undefined;
    });
    wC.proc.kill('SIGCONT');
    await until('worker-c to notice it lost its claim', () => logOf(wC, 'claim lost (job deleted, or claimed again after this node missed its lease); stopped without writing', id)[0], 30_000);
    const job = await waitJob(api, '', id);
    expect(job.status).toBe('succeeded');
    const got = await outcome(api, id);
    expect(got.epochs).toEqual(reference.epochs);
    expect(got.losses).toEqual(reference.losses);
    expect(Buffer.compare(got.checkpoint, reference.checkpoint)).toBe(0);
    // worker-c finished nothing.
    expect(logOf(wC, 'job finished', id)).toEqual([]);
    for (const w of [wC, wD]) w.proc.kill('SIGTERM');
    await Promise.all([wC.exited, wD.exited]);
  }, 180_000);

  it('cancel through another api node stops the job on its worker; SIGTERM on a worker hands its job back at once', async () => {
    const wE = await start('worker', { NODE_ID: 'worker-e' });
    const long = await api.call('POST', '/v1/jobs', null, spec(100_000));
    const id = long.json.id as string;
    const stream = openStream(api.base.replace('http://', ''), id);
    await until('the job to run', async () => ((await api.call('GET', `/v1/jobs/${id}`, null)).json.epoch > 10 ? true : undefined));
    const sentAt = Date.now();
    const c = await api2.call('POST', `/v1/jobs/${id}/cancel`, null);
    expect(c.status).toBe(200);
    const { final } = summarize(await stream.done);
    const cancelMs = Date.now() - sentAt;
    expect(final).toMatchObject({ status: 'cancelled' });
    expect(logOf(wE, 'job finished', id)[0]).toMatchObject({ status: 'cancelled' });
    console.log(`[cluster] cancel via the second api node: stream said cancelled ${cancelMs} ms after the request`);

    // Drain: a worker that gets SIGTERM hands its job back ('queued') for another worker, which resumes it.
    // Long enough that it is still running when the signal comes, even on a loaded machine.
    const other = await api.call('POST', '/v1/jobs', null, spec(12_000));
    const otherId = other.json.id as string;
    await until('the job to run on worker-e', async () => ((await api.call('GET', `/v1/jobs/${otherId}`, null)).json.epoch > 100 ? true : undefined));
    wE.proc.kill('SIGTERM');
    expect((await wE.exited).code).toBe(0);
    expect(logOf(wE, 'job handed back to the queue; it resumes from its snapshot', otherId)).toHaveLength(1);
    expect((await api.call('GET', `/v1/jobs/${otherId}`, null)).json.status).toBe('queued');
    const wF = await start('worker', { NODE_ID: 'worker-f' });
    const job = await waitJob(api, '', otherId);
    expect(job.status).toBe('succeeded');
    const got = await outcome(api, otherId);
    // Same spec but longer: every epoch once, and the first 3,000 losses are the reference's, bit for bit.
    expect(got.epochs).toEqual(Array.from({ length: 12_000 }, (_, i) => i + 1));
    expect(got.losses.slice(0, EPOCHS)).toEqual(reference.losses);
    wF.proc.kill('SIGTERM');
    await wF.exited;
  }, 180_000);

  it('a job that ends on a worker is delivered to its webhook once, by one of two api nodes', async () => {
    const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const rx = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve));
    try {
      const wG = await start('worker', { NODE_ID: 'worker-g' });
      const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
      const r = await api.call('POST', '/v1/jobs', null, { ...spec(50), webhook: { url } });
      expect(r.status).toBe(201);
      expect((await waitJob(api, '', r.json.id)).status).toBe('succeeded');
      await until('the delivery', () => (received.length > 0 ? true : undefined), 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // both api nodes poll every second: no second copy
      expect(received).toHaveLength(1);
      const body = JSON.parse(received[0]!.body);
      expect(body).toMatchObject({ type: 'job.succeeded', data: { job: { id: r.json.id, status: 'succeeded', epoch: 50 } } });
      // Both api nodes give the tenant the same secret, and it verifies the delivery.
      const [s1, s2] = await Promise.all([api, api2].map(async (n) => (await n.call('GET', '/v1/webhooks/secret', null)).json.secret as string));
      expect(s2).toBe(s1);
      expect(verifySignature(s1!, String(received[0]!.headers['gradloom-signature']), received[0]!.body)).toBe(true);
      const list = (await api2.call('GET', `/v1/jobs/${r.json.id}/webhooks`, null)).json;
      expect(list.items).toMatchObject([{ id: body.id, status: 'delivered', attempts: 1, lastStatusCode: 200 }]);
      wG.proc.kill('SIGTERM');
      await wG.exited;
    } finally {
      rx.closeAllConnections();
      await new Promise<void>((resolve) => rx.close(() => resolve()));
    }
  }, 120_000);
});
