/**
 * Authentication: every route under /v1 needs a key; health checks, the OpenAPI document, the docs and the
 * dashboard's static files do not (they carry no tenant data). The tenant found here is the only one routes see
 * (`request.tenant`), so a resource of another tenant simply is not found (404).
 *
 * WebSocket streams (routes ending in /stream) also accept `?access_token=`, carrying EITHER a stream token from
 * POST /v1/stream-tokens (browsers cannot set headers on a WebSocket) OR an API key (what the dashboard sends).
 * Nowhere else is a key accepted in the URL: URLs end up in logs and browser history.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { KeyRing } from './keys.js';
import { StreamTokenIssuer } from './stream-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
  interface FastifyInstance {
    streamTokens: StreamTokenIssuer;
  }
}

export const UNAUTHORIZED_BODY = Object.freeze({
  error: 'unauthorized',
  message: 'send Authorization: Bearer <api key>',
});

/** The tenant every request acts as when no keys are configured (loopback only; see loopback.ts). */
export const ANONYMOUS_TENANT = 'default';

export interface AuthPluginOptions {
  keys: KeyRing;
  /** Defaults to a fresh issuer (per-process secret, 60 s tokens). */
  streamTokens?: StreamTokenIssuer;
  /**
   * Failed authentications one client address may make per minute before its failures are answered 429 instead
   * of 401 until the minute is over (requests with a valid key from that address are still served). 0 disables.
   * Default 60.
   */
  maxAuthFailuresPerMinute?: number;
}

/** Fixed one-minute windows of failed authentications per client address, bounded in size. */
export class AuthFailureLimiter {
  private readonly counts = new Map<string, { windowStart: number; failures: number }>();
  constructor(
    readonly max: number,
    private readonly windowMs = 60_000,
    private readonly maxTracked = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until this address may try again, or 0 when it is not blocked. */
  blockedFor(ip: string): number {
    if (this.max <= 0) return 0;
    const e = this.counts.get(ip);
    if (!e) return 0;
    const left = e.windowStart + this.windowMs - this.now();
    if (left <= 0) {
      this.counts.delete(ip);
      return 0;
    }
    return e.failures >= this.max ? Math.ceil(left / 1000) : 0;
  }

  fail(ip: string): void {
    if (this.max <= 0) return;
    const t = this.now();
    const e = this.counts.get(ip);
    if (e && t - e.windowStart < this.windowMs) {
      e.failures++;
      return;
    }
    if (!e && this.counts.size >= this.maxTracked) this.sweep(t);
    if (this.counts.size < this.maxTracked) this.counts.set(ip, { windowStart: t, failures: 1 });
  }

  private sweep(t: number): void {
    for (const [ip, e] of this.counts) if (t - e.windowStart >= this.windowMs) this.counts.delete(ip);
  }
}

export function needsAuth(routeUrl: string | undefined): boolean {
  // The matched route pattern, not the raw URL: '/v1/../x' or '//v1' tricks cannot dodge it, and unknown
  // paths (no route) fall through to a 404 that reveals nothing.
  return routeUrl !== undefined && (routeUrl === '/v1' || routeUrl.startsWith('/v1/'));
}

function isStreamRoute(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && routeUrl.endsWith('/stream');
}

function bearer(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

function queryToken(request: FastifyRequest): string | null {
  const q = request.query as Record<string, unknown> | undefined;
  const v = q?.access_token;
  return typeof v === 'string' && v.length > 0 ? v : null;
}

export function sendUnauthorized(reply: FastifyReply): FastifyReply {
  return reply.code(401).header('www-authenticate', 'Bearer').send(UNAUTHORIZED_BODY);
}

/** Who is asking: the tenant, or null when the credentials are missing or wrong. */
export function authenticate(
  request: FastifyRequest,
  keys: KeyRing,
  tokens: StreamTokenIssuer,
): string | null {
  const fromHeader = bearer(request.headers.authorization);
  if (fromHeader !== null) return keys.verify(fromHeader);
  if (request.headers.authorization !== undefined) return null; // present but not "Bearer <key>"
  if (!isStreamRoute(request.routeOptions.url)) return null;
  const token = queryToken(request);
  if (token === null) return null;
  if (StreamTokenIssuer.looksLikeToken(token)) {
    const claims = tokens.verify(token);
    if (claims === null) return null;
    const params = request.params as Record<string, unknown> | undefined;
    if (claims.j !== undefined && params?.id !== claims.j) return null;
    return claims.t;
  }
  return keys.verify(token);
}

const streamTokenBody = z
  .object({ jobId: z.string().min(1).max(200).optional().describe('Limit the token to one job stream') })
  .strict();
const streamTokenResponse = z.object({
  token: z.string().describe('Send as ?access_token= when opening /v1/jobs/:id/stream'),
  expiresAt: z.string(),
  expiresInMs: z.number(),
});

async function authPlugin(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const { keys } = options;
  const tokens = options.streamTokens ?? new StreamTokenIssuer();
  const authOff = keys.size === 0;
  const failures = new AuthFailureLimiter(options.maxAuthFailuresPerMinute ?? 60);

  if (!app.hasRequestDecorator('tenant')) app.decorateRequest('tenant', ANONYMOUS_TENANT);
  if (!app.hasDecorator('streamTokens')) app.decorate('streamTokens', tokens);

  app.addHook('onRequest', async (request, reply) => {
    if (authOff) {
      request.tenant = ANONYMOUS_TENANT;
      return;
    }
    if (!needsAuth(request.routeOptions.url)) return;
    // A valid key is served even from an address that is blocked: the address may be a NAT or a proxy shared with
    // whoever floods wrong keys, and its tenants must not be locked out by them. Only the failures are refused.
    const tenant = authenticate(request, keys, tokens);
    if (tenant !== null) {
      request.tenant = tenant;
      return;
    }
    const wait = failures.blockedFor(request.ip);
    if (wait > 0) {
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .send({
          error: 'too_many_auth_failures',
          message: `too many failed authentications from this address: at most ${failures.max} per minute; retry in ${wait} s with a valid Authorization: Bearer <api key>`,
        });
    }
    failures.fail(request.ip);
    return sendUnauthorized(reply);
  });
}

/**
 * POST /stream-tokens (mounted under /v1 next to the other routes, so the OpenAPI document lists it). Needs the
 * auth plugin (for request.tenant and app.streamTokens).
 */
export async function streamTokenRoutes(
  app: FastifyInstance,
  options: {
    /**
     * Does this tenant own this job? Used to refuse (404) stream tokens for jobs the tenant cannot see. When
     * absent, a job-bound token is issued without checking (the stream route checks ownership anyway).
     */
    jobExists?: (tenant: string, jobId: string) => Promise<boolean>;
  },
): Promise<void> {
  app.post(
    '/stream-tokens',
    {
      schema: {
        summary: 'Issue a short-lived token for opening a WebSocket stream from a browser',
        description:
          'Browsers cannot set headers on a WebSocket. Send the token as `?access_token=` when opening ' +
          '`/v1/jobs/:id/stream`; it is valid for about a minute (STREAM_TOKEN_TTL_MS), for this tenant only, and for one ' +
          'job when `jobId` is given. `?access_token=` also accepts an API key on stream routes (and nowhere else).',
        tags: ['jobs'],
        body: streamTokenBody.nullish(),
        response: { 201: streamTokenResponse, 404: z.object({ error: z.string(), message: z.string() }) },
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as z.infer<typeof streamTokenBody>;
      if (body.jobId !== undefined && options.jobExists && !(await options.jobExists(request.tenant, body.jobId))) {
        return reply.code(404).send({ error: 'not_found', message: `job ${body.jobId} not found` });
      }
      return reply.code(201).send(app.streamTokens.issue(request.tenant, body.jobId));
    },
  );
}

// Registered without encapsulation (what fastify-plugin does), so the hook and decorations reach every route.
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(authPlugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'gradloom-auth';

export default authPlugin;
export { authPlugin };
