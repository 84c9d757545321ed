/**
 * Security headers (helmet), the CORS policy from CORS_ORIGINS, and a last line of defence against leaking
 * internals: whatever error handler produced a response, an error body carrying a stack trace or a filesystem
 * path is replaced by a generic message with the request id (the details stay in the log).
 *
 * Register before the auth plugin so that 401s carry CORS headers a browser can read.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

export interface SecurityPluginOptions {
  /** '*' for any origin, a list of exact origins, or an empty list for no cross-origin access. */
  corsOrigins: '*' | string[];
}

const STACK_RE = /\n\s+at |\bat [\w.<>$]+ \(|(?:file:\/\/|\/(?:home|root|usr|opt|work|app|srv|tmp|var)\/)[^\s"']*|node_modules|[A-Z]:\\\\/;

/** Does this response body give away code structure or paths? */
export function leaksInternals(body: string): boolean {
  return STACK_RE.test(body) || body.includes(process.cwd());
}

export function genericErrorBody(statusCode: number, requestId: string): string {
  return JSON.stringify({
    error: statusCode >= 500 ? 'internal' : 'bad_request',
    message:
      statusCode >= 500
        ? `internal server error; quote request id ${requestId} when reporting it`
        : `the request could not be processed (request id ${requestId})`,
  });
}

async function securityPlugin(app: FastifyInstance, options: SecurityPluginOptions): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // Swagger UI and chart libraries set inline styles.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
    // The API is called from other origins when CORS allows it; let the CORS policy decide, not CORP.
    crossOriginResourcePolicy: { policy: options.corsOrigins === '*' || options.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' },
    // HSTS only means something behind TLS, which a proxy terminates; it does no harm on plain HTTP.
    hsts: { maxAge: 15552000, includeSubDomains: false },
  });

  if (options.corsOrigins === '*' || options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins === '*' ? '*' : options.corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: [
        'Retry-After',
        'Location',
        'X-Request-Id',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
        'WWW-Authenticate',
      ],
      // Keys travel in the Authorization header, not cookies: no credentials mode needed.
      credentials: false,
      maxAge: 600,
    });
  }

  // An answer sent before the request body was read (401, 429, 415...) would leave the connection waiting for the
  // rest of a body nobody wants, and Node's idle timeout does not apply then: a client announcing a large body and
  // trickling it (or not sending it) would hold the socket. Close such connections once answered.
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.raw.complete) reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
    const ct = String(reply.getHeader('content-type') ?? '');
    if (!ct.includes('json') && !ct.includes('text')) return payload;
    // The errors plugin already turns unexpected errors into a generic 500; this catches what slips past it
    // (a message that embeds a path, a library error serialised with its stack).
    if (!leaksInternals(payload)) return payload;
    request.log.warn({ statusCode: reply.statusCode }, 'response body replaced: it carried a stack trace or a path');
    reply.header('content-type', 'application/json; charset=utf-8');
    return genericErrorBody(reply.statusCode, String(request.id));
  });
}

(securityPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(securityPlugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'gradloom-security';

export default securityPlugin;
export { securityPlugin };
