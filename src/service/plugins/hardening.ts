/**
 * Everything issue 6 adds to the app, in the order it must run: security headers and CORS (so even a 401 carries
 * them), the WebSocket heartbeat, authentication (sets request.tenant; replaces the placeholder tenant plugin),
 * then per-tenant rate limits and quotas (they need the tenant, and must be registered before the routes).
 *
 * Refuses to build an app that would listen on a non-loopback HOST without API keys.
 */
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ConfigError, type Config } from '../config.js';
import { loadKeyRing, type KeyRing } from '../auth/keys.js';
import { checkAuthExposure } from '../auth/loopback.js';
import { authPlugin, streamTokenRoutes } from '../auth/plugin.js';
import { loadSecurityConfig, type SecurityConfig } from '../auth/security-config.js';
import { StreamTokenIssuer } from '../auth/stream-tokens.js';
import type { JobManager, JobStore } from '../jobs/types.js';
import { quotaPlugin } from '../quotas/plugin.js';
import { heartbeatPlugin } from './heartbeat.js';
import { securityPlugin } from './security.js';

export interface HardeningOptions {
  config: Config;
  /** Defaults to config.security, else the environment. */
  security?: SecurityConfig;
  store: JobStore;
  manager: JobManager;
  /** A pre-built key ring (tests); otherwise loaded from security.apiKeys / apiKeysFile. */
  keys?: KeyRing;
}

export function resolveSecurity(config: Config, security?: SecurityConfig): SecurityConfig {
  return security ?? (config as Config & { security?: SecurityConfig }).security ?? loadSecurityConfig();
}

/** Fastify server options that come from the hardening configuration (timeouts). */
export function serverTimeouts(config: Config): { requestTimeout: number; connectionTimeout: number } {
  const s = resolveSecurity(config);
  return { requestTimeout: s.requestTimeoutMs, connectionTimeout: s.connectionTimeoutMs };
}

async function hardeningPlugin(app: FastifyInstance, options: HardeningOptions): Promise<void> {
  const security = resolveSecurity(options.config, options.security);
  let keys: KeyRing;
  try {
    keys = options.keys ?? loadKeyRing({ API_KEYS: security.apiKeys, API_KEYS_FILE: security.apiKeysFile });
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`, ['API_KEYS', 'API_KEYS_FILE']);
  }
  // Throws (refusing to start) on a non-loopback HOST without keys.
  const warning = checkAuthExposure(options.config.host, keys.size);
  if (warning) app.log.warn(`!!! ${warning} !!!`);
  else app.log.info({ tenants: keys.tenants().length, keys: keys.size }, 'API key authentication enabled');
  const weak = keys.weakKeyTenants();
  if (weak.length > 0) app.log.warn({ tenants: weak }, 'some API keys are shorter than 16 characters; use long random keys');

  // Node's server enforces these (fastify passes its own options to the same properties at construction).
  app.server.requestTimeout = security.requestTimeoutMs;
  app.server.headersTimeout = security.requestTimeoutMs === 0 ? 60_000 : Math.min(60_000, security.requestTimeoutMs);
  app.server.setTimeout(security.connectionTimeoutMs);
  // Fastify's own handler answers these in its shape ({error: "Request Timeout", statusCode}); ours is documented.
  app.server.removeAllListeners('clientError');
  app.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, security.requestTimeoutMs));

  await app.register(securityPlugin, { corsOrigins: security.corsOrigins });
  await app.register(heartbeatPlugin, { intervalMs: security.wsPingIntervalMs });
  await app.register(authPlugin, {
    keys,
    // Every api node must accept the tokens every other issues: the key is kept in the store they share.
    streamTokens: new StreamTokenIssuer(security.streamTokenTtlMs, await app.gradloom.store.sharedSecret('stream_tokens')),
    maxAuthFailuresPerMinute: security.authFailuresPerMinute,
  });
  await app.register(quotaPlugin, {
    rateLimitPerMinute: security.rateLimitPerMinute,
    tenantMaxActiveJobs: security.tenantMaxActiveJobs,
    tenantMaxStoredBytes: security.tenantMaxStoredBytes,
    tenantMaxStreams: security.tenantMaxStreams,
    usage: (tenant) => options.store.tenantUsage(tenant),
    isIdempotentReplay: async (tenant, key) => (await options.store.findJobByIdempotencyKey(tenant, key)) !== null,
  });
}

/**
 * What Node's server reports before a request reaches fastify (the whole request did not arrive within
 * REQUEST_TIMEOUT_MS, headers too large, not HTTP): answered in the documented error shape, then the socket closes.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, requestTimeoutMs: number): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, body] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', { error: 'request_timeout', message: `the request did not arrive completely within ${requestTimeoutMs} ms (REQUEST_TIMEOUT_MS); send it faster, or in smaller pieces` }]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', { error: 'headers_too_large', message: 'the request headers are larger than the server accepts (16 KiB); send fewer or shorter headers' }]
        : [400, 'Bad Request', { error: 'bad_request', message: 'the request is not valid HTTP/1.1' }];
  const text = JSON.stringify(body);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  socket.destroy(err);
}

/**
 * For buildApp's `extend` option (main.ts): everything above plus the routes. Registered after swagger, so
 * POST /v1/stream-tokens appears in the OpenAPI document, and before the routes, so rate limits reach them.
 */
export async function registerHardening(
  app: FastifyInstance & { gradloom: { config: Config; store: JobStore; manager: JobManager } },
  extra: { security?: SecurityConfig; keys?: KeyRing } = {},
): Promise<void> {
  const { config, store, manager } = app.gradloom;
  await app.register(hardeningPlugin, { config, store, manager, ...extra });
  await app.register(hardeningRoutes, { prefix: '/v1', manager });
}

/** The routes issue 6 adds, mounted under /v1 with the others (after swagger, so the document lists them). */
export async function hardeningRoutes(app: FastifyInstance, options: { manager: JobManager }): Promise<void> {
  await app.register(streamTokenRoutes, {
    jobExists: async (tenant: string, id: string) => (await options.manager.get(tenant, id)) !== null,
  });
}

(hardeningPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(hardeningPlugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'gradloom-hardening';

export default hardeningPlugin;
export { hardeningPlugin };

/** `?access_token=` must not reach the logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}

/** pino serializers for fastify's logger: its default request serializer, with `?access_token=` redacted. */
export const logSerializers = {
  req(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
    return {
      method: req.method,
      url: redactUrl(req.url ?? ''),
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket?.remotePort,
    };
  },
};
