/** Route helpers for jobs: the wire views (from ../jobs/views.ts), log fields, 404s. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobManager, JobRecord } from '../jobs/types.js';
import { notFound } from '../plugins/errors.js';

export { finiteOrNull, jobLinks, toJobView } from '../jobs/views.js';

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
