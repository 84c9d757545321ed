/**
 * Per-tenant limits: requests per minute (@fastify/rate-limit keyed by tenant), queued + running jobs, and stored
 * bytes. Each refusal is a 429 with Retry-After and a message naming the limit and the variable that sets it.
 * /healthz and /readyz are exempt: orchestrators must always be able to ask.
 *
 * Must be registered after the auth plugin (its onRequest hook sets request.tenant) and before the routes
 * (@fastify/rate-limit attaches itself to routes as they are added).
 */
import { Transform } from 'node:stream';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { needsAuth } from '../auth/plugin.js';
import { QuotaExceededError } from './errors.js';

export interface TenantUsage {
  bytes: number;
  queued: number;
  running: number;
}

export interface QuotaPluginOptions {
  /** Requests per minute per tenant; 0 disables. */
  rateLimitPerMinute: number;
  /** Queued + running jobs per tenant; 0 disables. */
  tenantMaxActiveJobs: number;
  /** Stored bytes per tenant; 0 disables. */
  tenantMaxStoredBytes: number;
  usage: (tenant: string) => Promise<TenantUsage>;
  /**
   * Whether a job submission with this Idempotency-Key is a retry of a job the tenant already has: a retry creates
   * nothing, so it is answered with the existing job even when the tenant is at its job quota.
   */
  isIdempotentReplay?: (tenant: string, idempotencyKey: string) => Promise<boolean>;
  /** Routes (METHOD + pattern) that create a job. */
  jobRoutes?: string[];
  /** Routes that store data; refused once the tenant is at its storage quota. */
  storageRoutes?: string[];
  /** Rate-limit window; tests shorten it. */
  timeWindowMs?: number;
  /**
   * Open WebSocket streams per tenant; 0 disables. Each stream replays its job's history into memory when it
   * opens, so an unbounded number of them is a way to exhaust the server's memory.
   */
  tenantMaxStreams?: number;
}

export const EXEMPT_ROUTES = new Set(['/healthz', '/readyz']);
const kStream = Symbol('gradloom.quota.stream');
const kReserved = Symbol('gradloom.quota.reserved');
const kBodyBytes = Symbol('gradloom.quota.bodyBytes');

function routeKey(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? ''}`;
}

/**
 * The stream a WebSocket upgrade runs on: the TCP socket on a real server; for app.injectWS (tests), the in-memory
 * duplex @fastify/websocket keeps under its 'ws-socket' symbol. Either emits 'close' when the stream ends.
 */
function upgradeTransport(request: FastifyRequest): { once(event: 'close', fn: () => void): unknown } | null {
  const raw = request.raw as unknown as Record<symbol, unknown> & { socket?: { once(e: 'close', f: () => void): unknown } };
  if (raw.socket) return raw.socket;
  const sym = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'ws-socket');
  const t = sym ? (raw[sym] as { once?: unknown } | undefined) : undefined;
  return t && typeof t.once === 'function' ? (t as { once(e: 'close', f: () => void): unknown }) : null;
}

export function sendQuotaError(reply: FastifyReply, err: QuotaExceededError): FastifyReply {
  return reply
    .code(429)
    .header('retry-after', String(err.retryAfterSeconds))
    .send({ error: err.code, message: err.message });
}

async function quotaPlugin(app: FastifyInstance, options: QuotaPluginOptions): Promise<void> {
  const jobRoutes = new Set(options.jobRoutes ?? ['POST /v1/jobs']);
  const storageRoutes = new Set(options.storageRoutes ?? ['POST /v1/jobs', 'POST /v1/datasets']);
  const windowMs = options.timeWindowMs ?? 60_000;

  if (options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: options.rateLimitPerMinute,
      timeWindow: windowMs,
      hook: 'onRequest',
      // Authenticated routes count against the tenant; public ones (docs, static files) against the address.
      keyGenerator: (request) =>
        needsAuth(request.routeOptions.url) ? `tenant:${request.tenant}` : `ip:${request.ip}`,
      allowList: (request) => EXEMPT_ROUTES.has(request.routeOptions.url ?? ''),
      errorResponseBuilder: (_request, context) =>
        new QuotaExceededError(
          'rate_limited',
          `rate limit exceeded: at most ${context.max} requests per minute per tenant (RATE_LIMIT_PER_MINUTE); retry in ${context.after}`,
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    });
  }

  // Jobs reserved by requests still in flight, so two concurrent submissions cannot both take the last slot.
  const reserved = new Map<string, number>();
  const release = (request: FastifyRequest) => {
    const r = request as unknown as Record<symbol, boolean>;
    if (!r[kReserved]) return;
    r[kReserved] = false;
    const n = (reserved.get(request.tenant) ?? 1) - 1;
    if (n <= 0) reserved.delete(request.tenant);
    else reserved.set(request.tenant, n);
  };

  // Bytes of the body as received, counted while Fastify reads it: Content-Length may be absent (chunked transfer)
  // or a lie, and the stored-bytes check below runs after parsing, so it can use the real count.
  if (options.tenantMaxStoredBytes > 0) {
    app.addHook('preParsing', async (request, _reply, payload) => {
      if (!storageRoutes.has(routeKey(request))) return payload;
      const r = request as unknown as Record<symbol, number>;
      r[kBodyBytes] = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          r[kBodyBytes]! += chunk.length;
          (counter as unknown as { receivedEncodedLength: number }).receivedEncodedLength = r[kBodyBytes]!;
          done(null, chunk);
        },
      });
      // Fastify compares this with Content-Length and with bodyLimit, as it would for the raw request.
      (counter as unknown as { receivedEncodedLength: number }).receivedEncodedLength = 0;
      payload.on('error', (err) => counter.destroy(err));
      return payload.pipe(counter);
    });
  }

  app.addHook('preHandler', async (request, reply) => {
    const key = routeKey(request);
    const isJob = options.tenantMaxActiveJobs > 0 && jobRoutes.has(key);
    const isStorage = options.tenantMaxStoredBytes > 0 && storageRoutes.has(key);
    if (!isJob && !isStorage) return;
    const tenant = request.tenant;
    const idempotencyKey = request.headers['idempotency-key'];
    if (jobRoutes.has(key) && typeof idempotencyKey === 'string' && options.isIdempotentReplay
      && (await options.isIdempotentReplay(tenant, idempotencyKey))) {
      return;
    }
    if (isJob) {
      // Reserve before the await, so the check below sees every concurrent submission.
      reserved.set(tenant, (reserved.get(tenant) ?? 0) + 1);
      (request as unknown as Record<symbol, boolean>)[kReserved] = true;
    }
    const usage = await options.usage(tenant);
    if (isStorage) {
      const announced = Number(request.headers['content-length'] ?? 0) || 0;
      const incoming = Math.max(announced, (request as unknown as Record<symbol, number | undefined>)[kBodyBytes] ?? 0);
      if (usage.bytes + incoming > options.tenantMaxStoredBytes) {
        release(request);
        return sendQuotaError(
          reply,
          new QuotaExceededError(
            'storage_quota_exceeded',
            `storage quota exceeded: tenant stores ${usage.bytes} bytes and this request adds up to ${incoming}, above the limit of ${options.tenantMaxStoredBytes} bytes (TENANT_MAX_STORED_BYTES); delete jobs or datasets to free space`,
            60,
          ),
        );
      }
    }
    if (isJob) {
      const active = usage.queued + usage.running + (reserved.get(tenant) ?? 1) - 1;
      if (active >= options.tenantMaxActiveJobs) {
        release(request);
        return sendQuotaError(
          reply,
          new QuotaExceededError(
            'too_many_jobs',
            `too many active jobs: tenant has ${usage.queued} queued and ${usage.running} running (plus ${active - usage.queued - usage.running} being submitted), the limit is ${options.tenantMaxActiveJobs} queued + running jobs per tenant (TENANT_MAX_ACTIVE_JOBS); wait for one to finish or cancel one`,
            5,
          ),
        );
      }
    }
  });
  // Open streams per tenant: counted from the moment the upgrade is accepted until its socket closes.
  const streams = new Map<string, number>();
  const maxStreams = options.tenantMaxStreams ?? 0;
  if (maxStreams > 0) {
    app.addHook('preHandler', async (request, reply) => {
      if (!(request as unknown as { ws?: boolean }).ws) return;
      const r = request as unknown as Record<symbol, boolean>;
      if (r[kStream]) return;
      const tenant = request.tenant;
      const open = streams.get(tenant) ?? 0;
      if (open >= maxStreams) {
        return sendQuotaError(
          reply,
          new QuotaExceededError(
            'too_many_streams',
            `too many open streams: tenant has ${open}, the limit is ${maxStreams} WebSocket streams per tenant (TENANT_MAX_STREAMS); close one first`,
            5,
          ),
        );
      }
      r[kStream] = true;
      streams.set(tenant, open + 1);
      const release = () => {
        const n = (streams.get(tenant) ?? 1) - 1;
        if (n <= 0) streams.delete(tenant);
        else streams.set(tenant, n);
      };
      const transport = upgradeTransport(request);
      if (transport) transport.once('close', release);
      else release(); // nothing to watch: do not count it rather than leak a slot
    });
  }

  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => release(request));
}

(quotaPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(quotaPlugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'gradloom-quotas';

export default quotaPlugin;
export { quotaPlugin };
