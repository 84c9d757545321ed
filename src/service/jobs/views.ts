/**
 * How runtime records look on the wire: only documented fields, links, and no non-finite numbers. Pure (no HTTP):
 * the routes answer with these, and the stores build webhook bodies with them inside the terminal transaction.
 */
import type { z } from 'zod';
import type { jobSchema } from '../schemas/jobs.js';
import type { JobRecord } from './types.js';

export const finiteOrNull = (value: number | null | undefined): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

export function jobLinks(id: string) {
  const self = `/v1/jobs/${encodeURIComponent(id)}`;
  return {
    self,
    stream: `${self}/stream`,
    metrics: `${self}/metrics`,
    checkpoint: `${self}/checkpoint`,
    checkpoints: `${self}/checkpoints`,
    predictions: `${self}/predictions`,
  };
}

export function toJobView(job: JobRecord): z.output<typeof jobSchema> {
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    spec: job.spec,
    epoch: job.epoch,
    epochs: job.epochs,
    lastLoss: finiteOrNull(job.lastLoss),
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    updatedAt: job.updatedAt,
    error: job.error ? { code: job.error.code, message: job.error.message } : null,
    details: job.details ?? null,
    links: jobLinks(job.id),
  };
}
