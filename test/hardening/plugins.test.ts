/**
 * The auth, quota and security plugins on a minimal app with stand-in routes, so their behaviour is pinned down
 * independently of the real routes (test/hardening/tenants.test.ts covers those).
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { KeyRing, parseApiKeysEnv } from '../../src/service/auth/keys.js';
import { AuthFailureLimiter, authPlugin, streamTokenRoutes } from '../../src/service/auth/plugin.js';
import { StreamTokenIssuer } from '../../src/service/auth/stream-tokens.js';
import { heartbeatPlugin } from '../../src/service/plugins/heartbeat.js';
import { securityPlugin } from '../../src/service/plugins/security.js';
import { quotaPlugin, type TenantUsage } from '../../src/service/quotas/plugin.js';

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-0123456789xyz';

interface MiniOptions {
  keys?: string;
  rate?: number;
  maxJobs?: number;
  maxBytes?: number;
  usage?: Record<string, TenantUsage>;
  cors?: '*' | string[];
  pingMs?: number;
  authFailures?: number;
  maxStreams?: number;
  /** tenant -> Idempotency-Keys of jobs it already has */
  idempotencyKeys?: Record<string, string[]>;
}

let apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.close()));
  apps = [];
});

async function mini(o: MiniOptions = {}) {
  const app = Fastify({ logger: false });
  apps.push(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const tokens = new StreamTokenIssuer(60_000);
  const jobs = new Map<string, string>([
    ['job-a', 'alice'],
    ['job-b', 'bob'],
  ]);
  await app.register(securityPlugin, { corsOrigins: o.cors ?? [] });
  await app.register(websocket);
  await app.register(heartbeatPlugin, { intervalMs: o.pingMs ?? 30_000 });
  await app.register(authPlugin, {
    keys: new KeyRing(o.keys === undefined ? parseApiKeysEnv(`alice:${ALICE},bob:${BOB}`) : parseApiKeysEnv(o.keys)),
    streamTokens: tokens,
    maxAuthFailuresPerMinute: o.authFailures ?? 60,
  });
  await app.register(streamTokenRoutes, { prefix: '/v1', jobExists: async (tenant: string, id: string) => jobs.get(id) === tenant });
  const usage = o.usage ?? {};
  await app.register(quotaPlugin, {
    rateLimitPerMinute: o.rate ?? 0,
    tenantMaxActiveJobs: o.maxJobs ?? 0,
    tenantMaxStoredBytes: o.maxBytes ?? 0,
    usage: async (t) => usage[t] ?? { bytes: 0, queued: 0, running: 0 },
    tenantMaxStreams: o.maxStreams ?? 0,
    isIdempotentReplay: async (t, key) => (o.idempotencyKeys?.[t] ?? []).includes(key),
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async () => ({ ok: true }));
  app.get('/v1/whoami', async (req) => ({ tenant: req.tenant }));
  app.post('/v1/jobs', async (req, reply) => {
    usage[req.tenant] ??= { bytes: 0, queued: 0, running: 0 };
    usage[req.tenant]!.queued++;
    return reply.code(201).send({ tenant: req.tenant });
  });
  app.post('/v1/datasets', async (_req, reply) => reply.code(201).send({ ok: true }));
  app.get('/v1/boom', async () => {
    throw new Error(`ENOENT: open '${process.cwd()}/data/secret.db'`);
  });
  app.get('/v1/jobs/:id/stream', { websocket: true }, (socket, req) => {
    const { id } = req.params as { id: string };
    if (jobs.get(id) !== req.tenant) {
      socket.close(4404, 'not found');
      return;
    }
    socket.send(JSON.stringify({ tenant: req.tenant, id }));
  });
  return { app, tokens };
}

function wsOpen(url: string, headers: Record<string, string> = {}): Promise<{ first: string } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('message', (m) => {
      resolve({ first: m.toString() });
      ws.close();
    });
    ws.on('close', (code) => resolve({ status: code }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

describe('auth plugin', () => {
  it('answers 401 with the header to send when the key is missing, malformed or wrong', async () => {
    const { app } = await mini();
    for (const authorization of [undefined, 'Basic YWxpY2U6eA==', `Bearer ${ALICE}x`, 'Bearer', `bearer  ${ALICE.slice(1)}`]) {
      const res = await app.inject({ method: 'GET', url: '/v1/whoami', headers: authorization ? { authorization } : {} });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.json()).toEqual({ error: 'unauthorized', message: 'send Authorization: Bearer <api key>' });
    }
    const ok = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${BOB}` } });
    expect(ok.json()).toEqual({ tenant: 'bob' });
    const lower = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `bearer ${ALICE}` } });
    expect(lower.json()).toEqual({ tenant: 'alice' });
  });

  it('does not accept a key in the query string on ordinary routes', async () => {
    const { app } = await mini();
    const res = await app.inject({ method: 'GET', url: `/v1/whoami?access_token=${ALICE}` });
    expect(res.statusCode).toBe(401);
  });

  it('leaves health checks and unknown paths open, and keyless mode acts as tenant "default"', async () => {
    const { app } = await mini();
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
    const open = await mini({ keys: '' });
    const res = await open.app.inject({ method: 'GET', url: '/v1/whoami' });
    expect(res.json()).toEqual({ tenant: 'default' });
  });

  it('authenticates WebSocket streams by header, stream token or API key in access_token', async () => {
    const { app } = await mini();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`;

    expect(await wsOpen(`${base}/v1/jobs/job-a/stream`)).toEqual({ status: 401 });
    expect(await wsOpen(`${base}/v1/jobs/job-a/stream`, { authorization: `Bearer ${ALICE}` })).toEqual({
      first: JSON.stringify({ tenant: 'alice', id: 'job-a' }),
    });
    // The dashboard sends its API key as ?access_token=.
    expect(await wsOpen(`${base}/v1/jobs/job-a/stream?access_token=${ALICE}`)).toEqual({
      first: JSON.stringify({ tenant: 'alice', id: 'job-a' }),
    });
    expect(await wsOpen(`${base}/v1/jobs/job-a/stream?access_token=wrong-key`)).toEqual({ status: 401 });

    // Browsers: a stream token from POST /v1/stream-tokens.
    const issued = await app.inject({
      method: 'POST',
      url: '/v1/stream-tokens',
      headers: { authorization: `Bearer ${ALICE}` },
      payload: { jobId: 'job-a' },
    });
    expect(issued.statusCode).toBe(201);
    const { token, expiresInMs } = issued.json() as { token: string; expiresInMs: number };
    expect(expiresInMs).toBe(60_000);
    expect(await wsOpen(`${base}/v1/jobs/job-a/stream?access_token=${encodeURIComponent(token)}`)).toEqual({
      first: JSON.stringify({ tenant: 'alice', id: 'job-a' }),
    });
    // Bound to its job: not valid for another stream, even one of the same tenant's jobs would need its own token.
    expect(await wsOpen(`${base}/v1/jobs/job-b/stream?access_token=${encodeURIComponent(token)}`)).toEqual({ status: 401 });
    // Another tenant's job: 404 when asking for a token, close(4404) on the stream with Bob's key.
    const foreign = await app.inject({
      method: 'POST',
      url: '/v1/stream-tokens',
      headers: { authorization: `Bearer ${ALICE}` },
      payload: { jobId: 'job-b' },
    });
    expect(foreign.statusCode).toBe(404);
    expect(await wsOpen(`${base}/v1/jobs/job-b/stream`, { authorization: `Bearer ${ALICE}` })).toEqual({ status: 4404 });
    // A tenant-wide token (no jobId) works for that tenant's jobs only.
    const wide = (
      await app.inject({ method: 'POST', url: '/v1/stream-tokens', headers: { authorization: `Bearer ${BOB}` } })
    ).json() as { token: string };
    expect(await wsOpen(`${base}/v1/jobs/job-b/stream?access_token=${wide.token}`)).toEqual({
      first: JSON.stringify({ tenant: 'bob', id: 'job-b' }),
    });
    expect(await wsOpen(`${base}/v1/jobs/job-a/stream?access_token=${wide.token}`)).toEqual({ status: 4404 });
    // Tokens are not API keys: they do not open ordinary routes.
    const viaHeader = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${wide.token}` } });
    expect(viaHeader.statusCode).toBe(401);
  });
});

describe('failed authentications', () => {
  it('refuses wrong keys from an address for the rest of the minute after too many failures; valid keys still work', async () => {
    const { app } = await mini({ authFailures: 3 });
    const get = (authorization: string, remoteAddress: string) =>
      app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization }, remoteAddress });
    for (let i = 0; i < 3; i++) expect((await get('Bearer wrong-key', '10.0.0.1')).statusCode).toBe(401);
    const blocked = await get('Bearer another-wrong-key', '10.0.0.1');
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.json()).toMatchObject({ error: 'too_many_auth_failures' });
    expect(blocked.json().message).toMatch(/at most 3 per minute/);
    // Issue 11: a tenant behind the same address (a NAT, a proxy) is not locked out by whoever floods wrong keys.
    expect((await get(`Bearer ${ALICE}`, '10.0.0.1')).statusCode).toBe(200);
    expect((await get('Bearer wrong-again', '10.0.0.1')).statusCode).toBe(429);
    expect((await get(`Bearer ${ALICE}`, '10.0.0.2')).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.1' })).statusCode).toBe(200);
  });

  it('forgets failures when the window ends, and stays bounded in memory', async () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(2, 60_000, 100, () => now);
    limiter.fail('a');
    limiter.fail('a');
    expect(limiter.blockedFor('a')).toBe(60);
    now = 59_500;
    expect(limiter.blockedFor('a')).toBe(1);
    now = 60_000;
    expect(limiter.blockedFor('a')).toBe(0);
    for (let i = 0; i < 1000; i++) limiter.fail(`ip-${i}`);
    expect((limiter as unknown as { counts: Map<string, unknown> }).counts.size).toBeLessThanOrEqual(100);
  });
});

describe('quota plugin', () => {
  it('rate-limits per tenant with 429, Retry-After and a message naming the limit; health checks exempt', async () => {
    const { app } = await mini({ rate: 3 });
    const get = (key: string) => app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${key}` } });
    for (let i = 0; i < 3; i++) expect((await get(ALICE)).statusCode).toBe(200);
    const limited = await get(ALICE);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().message).toMatch(/at most 3 requests per minute per tenant \(RATE_LIMIT_PER_MINUTE\)/);
    // Bob has his own budget.
    expect((await get(BOB)).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('caps queued + running jobs per tenant, counting concurrent submissions', async () => {
    const { app } = await mini({ maxJobs: 3, usage: { alice: { bytes: 0, queued: 1, running: 1 } } });
    const post = (key: string) =>
      app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: `Bearer ${key}` }, payload: {} });
    const results = await Promise.all([post(ALICE), post(ALICE), post(ALICE)]);
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes).toEqual([201, 429, 429]);
    const refused = results.find((r) => r.statusCode === 429)!;
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json().error).toBe('too_many_jobs');
    expect(refused.json().message).toMatch(/limit is 3 queued \+ running jobs per tenant \(TENANT_MAX_ACTIVE_JOBS\)/);
    expect((await post(BOB)).statusCode).toBe(201);
  });

  it('lets an idempotent retry through at the job and storage quotas (it creates nothing); a new key is still refused', async () => {
    const { app } = await mini({
      maxJobs: 2,
      maxBytes: 100,
      usage: { alice: { bytes: 1000, queued: 1, running: 1 } },
      idempotencyKeys: { alice: ['retry-1'] },
    });
    const post = (key: string, idem: string) =>
      app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem }, payload: {} });
    expect((await post(ALICE, 'retry-1')).statusCode).toBe(201);
    const fresh = await post(ALICE, 'new-key');
    expect(fresh.statusCode).toBe(429);
    // Another tenant's key is not a retry for bob.
    const bob = await mini({ maxJobs: 1, usage: { bob: { bytes: 0, queued: 1, running: 0 } }, idempotencyKeys: { alice: ['retry-1'] } });
    expect((await bob.app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: `Bearer ${BOB}`, 'idempotency-key': 'retry-1' }, payload: {} })).statusCode).toBe(429);
  });

  it('caps open WebSocket streams per tenant, and frees a slot when a stream closes', async () => {
    const { app } = await mini({ maxStreams: 2 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const open = (key: string, job: string) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`${base}/v1/jobs/${job}/stream`, { headers: { authorization: `Bearer ${key}` } });
        ws.once('message', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => {
            expect(JSON.parse(body).message).toMatch(/limit is 2 WebSocket streams per tenant \(TENANT_MAX_STREAMS\)/);
            expect(res.headers['retry-after']).toBeDefined();
            resolve(res.statusCode ?? 0);
          });
        });
      });
    const a1 = (await open(ALICE, 'job-a')) as WebSocket;
    const a2 = (await open(ALICE, 'job-a')) as WebSocket;
    expect(await open(ALICE, 'job-a')).toBe(429);
    const b1 = (await open(BOB, 'job-b')) as WebSocket;
    a1.close();
    await new Promise((r) => a1.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    const a3 = await open(ALICE, 'job-a');
    expect(a3).toBeInstanceOf(WebSocket);
    for (const ws of [a2, b1, a3 as WebSocket]) ws.close();
  });

  it('refuses uploads beyond the stored-bytes quota', async () => {
    const { app } = await mini({ maxBytes: 1000, usage: { alice: { bytes: 900, queued: 0, running: 0 } } });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { authorization: `Bearer ${ALICE}` },
      payload: { x: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], padding: 'x'.repeat(200) },
    });
    expect(res.statusCode).toBe(429);
    expect(res.json().message).toMatch(/above the limit of 1000 bytes \(TENANT_MAX_STORED_BYTES\)/);
    const bob = await app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${BOB}` }, payload: {} });
    expect(bob.statusCode).toBe(201);
  });

  it('counts the bytes actually received when there is no Content-Length (chunked upload)', async () => {
    const { app } = await mini({ maxBytes: 1000, usage: { alice: { bytes: 900, queued: 0, running: 0 } } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const postChunked = (body: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/datasets',
            headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        // Several chunks, none of which announces the total.
        for (let i = 0; i < body.length; i += 64) req.write(body.slice(i, i + 64));
        req.end();
      });
    const big = JSON.stringify({ padding: 'x'.repeat(500) });
    const refused = await postChunked(big);
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body).message).toContain(`adds up to ${big.length}, above the limit of 1000 bytes`);
    const small = await postChunked(JSON.stringify({ x: [1, 2] }));
    expect(small.status).toBe(201);
    expect(JSON.parse(small.body)).toEqual({ ok: true });
  });
});

describe('security plugin', () => {
  it('sets security headers', async () => {
    const { app } = await mini();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(String(res.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('applies the CORS policy from configuration, including on 401s', async () => {
    const closed = await mini();
    const none = await closed.app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(none.headers['access-control-allow-origin']).toBeUndefined();

    const { app } = await mini({ cors: ['https://ui.example'] });
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/whoami',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://ui.example');
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/Authorization/i);
    const unauth = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { origin: 'https://ui.example' } });
    expect(unauth.statusCode).toBe(401);
    expect(unauth.headers['access-control-allow-origin']).toBe('https://ui.example');
    const other = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('never sends stack traces or paths', async () => {
    const { app } = await mini();
    const res = await app.inject({ method: 'GET', url: '/v1/boom', headers: { authorization: `Bearer ${ALICE}` } });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain(process.cwd());
    expect(res.body).not.toMatch(/\bat\s/);
    expect(res.json().message).toMatch(/internal server error; quote request id/);
  });

  it('drops WebSocket peers that stop answering pings', async () => {
    const { app } = await mini({ pingMs: 200 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/jobs/job-a/stream`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ALICE}` }, autoPong: false });
    await new Promise((r) => ws.once('open', r));
    const closed = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(closed).toBe(1006); // terminated without a close frame
    // A peer that answers pings stays connected over several intervals.
    const live = new WebSocket(url, { headers: { authorization: `Bearer ${ALICE}` } });
    await new Promise((r) => live.once('open', r));
    let pings = 0;
    live.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 900));
    expect(live.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBeGreaterThanOrEqual(2);
    live.close();
  });
});
