/**
 * The body of a webhook delivery: a pure function of the job as it ended. The stores call it inside the transaction
 * that writes the job's terminal status, so the body is fixed then: every attempt sends the same bytes, and a job
 * deleted after it ended is still told about (its pending deliveries are dropped with it, see deleteJob).
 */
import { toJobView } from '../jobs/views.js';
import type { JobRecord, WebhookEvent } from '../jobs/types.js';

export interface WebhookBody {
  /** The delivery id (also the Gradloom-Delivery header): the same on every retry, for de-duplication. */
  id: string;
  type: WebhookEvent;
  /** When the job's end was recorded (ISO 8601). */
  createdAt: string;
  /** The job as GET /v1/jobs/:id shows it (inline rows summarised: their count and digest). */
  data: { job: ReturnType<typeof toJobView> };
}

const EVENTS: Partial<Record<JobRecord['status'], WebhookEvent>> = {
  succeeded: 'job.succeeded',
  failed: 'job.failed',
  cancelled: 'job.cancelled',
};

/** The event a job's status ends in, or null when the status is not terminal. */
export function webhookEventFor(status: JobRecord['status']): WebhookEvent | null {
  return EVENTS[status] ?? null;
}

/** The delivery's JSON body for a job that just reached a terminal status. */
export function buildWebhookBody(job: JobRecord, deliveryId: string, createdAt: string): string {
  const type = webhookEventFor(job.status);
  if (!type) throw new Error(`job ${job.id} is ${job.status}: only a finished job has a webhook event`);
  const body: WebhookBody = { id: deliveryId, type, createdAt, data: { job: toJobView(job) } };
  return JSON.stringify(body);
}

/**
 * The delivery a store inserts with a job's terminal status when its spec names a webhook; null otherwise.
 * `nextAttemptAt` is the store's clock (ms), so the first attempt is due at once.
 */
export function newWebhookDelivery(
  job: JobRecord,
  deliveryId: string,
  createdAt: string,
): { id: string; jobId: string; tenant: string; url: string; event: string; payload: string; createdAt: string } | null {
  const url = job.spec.webhook?.url;
  const event = webhookEventFor(job.status);
  if (!url || !event) return null;
  return { id: deliveryId, jobId: job.id, tenant: job.tenant, url, event, payload: buildWebhookBody(job, deliveryId, createdAt), createdAt };
}
