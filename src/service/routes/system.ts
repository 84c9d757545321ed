/** Liveness, readiness and the limits users are held to. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errors } from '../schemas/common.js';
import { storeFailureCause } from '../store/failures.js';
import { healthSchema, limitsSchema, readySchema } from '../schemas/system.js';

export const systemRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gradloom;

  app.get(
    '/healthz',
    { schema: { tags: ['system'], summary: 'Liveness: the process answers', response: { 200: healthSchema } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['system'],
        summary: 'Readiness: the store answers, the worker pool runs, the server is not draining',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      try {
        await ctx.store.ping();
        checks.store = 'ok';
      } catch (err) {
        const cause = storeFailureCause(err);
        checks.store = cause ? `the store cannot take writes: ${cause}` : `store query failed: ${(err as Error).message}`;
      }
      try {
        // runtimeStarted is the app's own view (false until the manager's start() resolved, and during close).
        const pool = !ctx.runtimeStarted
          ? { ready: false, reason: 'the job runtime has not started' }
          : ctx.manager.ready
            ? await ctx.manager.ready()
            : { ready: true };
        checks.pool = pool.ready ? 'ok' : (pool.reason ?? 'not ready');
      } catch (err) {
        checks.pool = `readiness check failed: ${(err as Error).message}`;
      }
      checks.server = ctx.state === 'draining' ? 'draining: shutting down' : 'ok';
      const ready = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );

  // A worker node serves its health checks only.
  if (ctx.config.role === 'worker') return;

  app.get(
    '/v1/limits',
    {
      schema: {
        tags: ['system'],
        summary: 'The limits this server enforces on jobs, datasets and requests',
        response: { 200: limitsSchema, ...errors() },
      },
    },
    async () => ctx.config.limits,
  );
};
