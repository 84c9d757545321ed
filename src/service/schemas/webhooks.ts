/** Webhook deliveries and signing secrets on the wire. */
import { z } from 'zod';
import { timestamp } from './common.js';

export const webhookDeliverySchema = z
  .object({
    id: z.string().describe('The delivery id: the body\'s `id` and the Gradloom-Delivery header, the same on every attempt'),
    event: z.enum(['job.succeeded', 'job.failed', 'job.cancelled']),
    url: z.string(),
    status: z
      .enum(['pending', 'delivered', 'failed'])
      .describe('pending: not delivered yet, retried with backoff; delivered: a 2xx answer; failed: gave up'),
    attempts: z.number().int().describe('Attempts made so far'),
    nextAttemptAt: z.string().nullable().describe('When a pending delivery is next tried (ISO 8601); null otherwise'),
    lastStatusCode: z.number().int().nullable().describe('The HTTP status of the last answer, if there was one'),
    lastError: z.string().nullable().describe('Why the last attempt failed (a refused address, a timeout, the status)'),
    createdAt: timestamp,
    deliveredAt: timestamp.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const webhookDeliveryListSchema = z
  .object({ jobId: z.string(), items: z.array(webhookDeliverySchema) })
  .meta({ id: 'WebhookDeliveryList' });

export const webhookSecretSchema = z
  .object({
    secret: z.string().describe('Your signing secret: the HMAC-SHA256 key (its UTF-8 bytes) of every delivery to your jobs\' webhooks'),
    algorithm: z.literal('hmac-sha256'),
    header: z.literal('Gradloom-Signature'),
    format: z.string().describe('How the header and the signed message are built'),
  })
  .meta({ id: 'WebhookSecret' });
