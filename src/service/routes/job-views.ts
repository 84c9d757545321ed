/** How runtime records look on the wire: only documented fields, links, and no non-finite numbers. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobManager, JobRecord } from '../jobs/types.js';
import { notFound } from '../plugins/errors.js';
import type { z } from 'zod';
import type { jobSchema, jobSummarySchema } from '../schemas/jobs.js';

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

/** For lists: the same, with inline rows replaced by their count. */
export function toJobSummary(job: JobRecord): z.output<typeof jobSummarySchema> {
  const view = toJobView(job);
  const { data } = view.spec;
  return { ...view, spec: { ...view.spec, data: data.kind === 'inline' ? { kind: 'inline', rows: data.x.length } : data } };
}

/** JSON with sorted keys, for comparing two specs regardless of key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Every log line of a request about a job, including fastify's "request completed", carries the job id. */
export function logJobId(request: FastifyRequest, reply: FastifyReply): void {
  const id = (request.params as { id?: string } | undefined)?.id;
  if (!id) return;
  const log = request.log.child({ jobId: id });
  request.log = log;
  reply.log = log;
}

/** The tenant's job, or a 404 that reads as if it did not exist (another tenant's job included). */
export async function getJobOr404(manager: JobManager, tenant: string, id: string): Promise<JobRecord> {
  const job = await manager.get(tenant, id);
  if (!job) throw notFound('job', id);
  return job;
}
