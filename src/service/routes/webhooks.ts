/** Webhooks: a job's deliveries and their outcome, and the tenant's signing secret. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { WebhookDelivery } from '../jobs/types.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { webhookDeliveryListSchema, webhookSecretSchema, type webhookDeliverySchema } from '../schemas/webhooks.js';
import { webhookServerKey } from '../webhooks/dispatcher.js';
import { SIGNATURE_HEADER, tenantSigningSecret } from '../webhooks/signing.js';
import { getJobOr404, logJobId } from './job-views.js';

function toDeliveryView(d: WebhookDelivery): z.output<typeof webhookDeliverySchema> {
  return {
    id: d.id,
    event: d.event,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: d.createdAt,
    deliveredAt: d.deliveredAt,
  };
}

export const webhookRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager, store, config } = app.gradloom;
  let serverKey: Promise<Buffer> | null = null;

  app.get(
    '/jobs/:id/webhooks',
    {
      preHandler: async (request, reply) => logJobId(request, reply),
      schema: {
        tags: ['jobs'],
        summary: "The job's webhook deliveries (one when it ended, if its spec names a webhook) and their outcome",
        params: idParamsSchema,
        response: { 200: webhookDeliveryListSchema, ...errors(404) },
      },
    },
    async (request) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const items = await store.listWebhookDeliveries(request.tenant, job.id);
      return { jobId: job.id, items: items.map(toDeliveryView) };
    },
  );

  app.get(
    '/webhooks/secret',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Your webhook signing secret, to verify the Gradloom-Signature header of deliveries',
        response: { 200: webhookSecretSchema, ...errors() },
      },
    },
    async (request) => {
      serverKey ??= webhookServerKey(config.webhooks?.secret, store).catch((err: unknown) => {
        serverKey = null;
        throw err;
      });
      return {
        secret: tenantSigningSecret(await serverKey, request.tenant),
        algorithm: 'hmac-sha256' as const,
        header: SIGNATURE_HEADER,
        format: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw request body>" keyed with the secret>',
      };
    },
  );
};
