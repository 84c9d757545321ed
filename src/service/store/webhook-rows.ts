/** The webhook_deliveries row as both stores read it (PostgreSQL returns bigint columns as strings). */
import type { WebhookDelivery, WebhookDeliveryStatus, WebhookEvent } from '../jobs/types.js';

export interface WebhookDeliveryRow {
  id: string;
  job_id: string;
  tenant: string;
  url: string;
  event: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: number | string;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export const WEBHOOK_COLS = `id, job_id, tenant, url, event, payload, status, attempts, next_attempt_at, last_status_code,
  last_error, created_at, delivered_at`;

export function rowToDelivery(r: WebhookDeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    jobId: r.job_id,
    tenant: r.tenant,
    url: r.url,
    event: r.event as WebhookEvent,
    payload: r.payload,
    status: r.status as WebhookDeliveryStatus,
    attempts: r.attempts,
    nextAttemptAt: Number(r.next_attempt_at),
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
  };
}

/** Longer errors are cut: a receiver's message must not grow a row without bound. */
export const MAX_WEBHOOK_ERROR_CHARS = 500;
export const clipError = (error: string): string =>
  error.length > MAX_WEBHOOK_ERROR_CHARS ? `${error.slice(0, MAX_WEBHOOK_ERROR_CHARS - 1)}…` : error;
