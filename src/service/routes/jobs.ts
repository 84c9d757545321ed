/** /v1/jobs: submit, list, read, metrics, cancel, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jobSpecSchema, type JobSpec } from '../../spec/job-spec.js';
import { TERMINAL_STATUSES, type JobRecord } from '../jobs/types.js';
import { jobResponseSerializerCompiler } from '../body/json-body.js';
import { checkJobSpec } from '../limits.js';
import { ApiError, notFound, validationError } from '../plugins/errors.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { fromEpochQuerySchema, jobPageSchema, jobSchema, listJobsQuerySchema, metricsSchema } from '../schemas/jobs.js';
import { canonicalJson, finiteOrNull, logJobId, toJobSummary, toJobView, getJobOr404 } from './job-views.js';

const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe('Retrying a POST with the same key returns the same job (200) instead of creating another'),
});

/** Same spec, ignoring a seed the server drew when the request had none. */
function sameSpec(stored: JobRecord['spec'], submitted: JobSpec): boolean {
  const storedCopy: Partial<JobRecord['spec']> = { ...stored };
  if (submitted.seed === undefined) delete storedCopy.seed;
  return canonicalJson(storedCopy) === canonicalJson(submitted);
}

export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager, store, config } = app.gradloom;

  app.addHook('preHandler', async (request, reply) => logJobId(request, reply));

  app.post(
    '/jobs',
    {
      config: { bodyMatrices: 'job' },
      serializerCompiler: jobResponseSerializerCompiler,
      schema: {
        tags: ['jobs'],
        summary: 'Submit a training job',
        description:
          'Validates the spec against the limits (GET /v1/limits) and queues it. 201 with the job; with an `Idempotency-Key` ' +
          'header, a retry with the same key and the same body answers 200 with the same job (header `Idempotent-Replayed: true`), ' +
          'and the same key with a different body answers 422 `idempotency_key_reused`. A full queue answers 429 with Retry-After.',
        body: jobSpecSchema,
        headers: idempotencyHeaders,
        response: { 200: jobSchema, 201: jobSchema, ...errors(400, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      if (app.gradloom.state === 'draining')
        throw new ApiError(503, 'shutting_down', 'the server is shutting down and accepts no new jobs; retry on another instance', {}, { 'retry-after': '5' });
      const spec = request.body;
      const dataset = spec.data.kind === 'dataset' ? await store.getDatasetRecord(request.tenant, spec.data.id) : null;
      const issues = checkJobSpec(spec, config.limits, dataset);
      if (issues.length > 0) throw validationError(issues);

      const key = request.headers['idempotency-key'];
      const { job, created } = await manager.submit(request.tenant, spec, key);
      request.log.info({ jobId: job.id, created }, created ? 'job submitted' : 'idempotent replay');
      if (!created) {
        if (!sameSpec(job.spec, spec))
          throw new ApiError(
            422,
            'idempotency_key_reused',
            `Idempotency-Key ${JSON.stringify(key)} was already used for job ${job.id} with a different body; use a new key for a new job`,
            { jobId: job.id },
          );
        reply.header('idempotent-replayed', 'true');
      }
      reply.header('location', `/v1/jobs/${job.id}`);
      return reply.code(created ? 201 : 200).send(toJobView(job));
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs, newest first',
        description: 'Items are summaries: inline training data is reduced to its row count (GET /v1/jobs/:id has it all).',
        querystring: listJobsQuerySchema,
        response: { 200: jobPageSchema, ...errors(400) },
      },
    },
    async (request) => {
      const { limit, cursor, status, tag, name } = request.query;
      const page = await manager.list({ tenant: request.tenant, limit, cursor, status, tag, name });
      return { items: page.items.map(toJobSummary), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/:id',
    {
      serializerCompiler: jobResponseSerializerCompiler,
      schema: {
        tags: ['jobs'],
        summary: 'A job: status, progress, last loss, timings, error',
        params: idParamsSchema,
        response: { 200: jobSchema, ...errors(404) },
      },
    },
    async (request) => toJobView(await getJobOr404(manager, request.tenant, request.params.id)),
  );

  app.get(
    '/jobs/:id/metrics',
    {
      schema: {
        tags: ['jobs'],
        summary: 'The loss history (from epoch `from`, 1 by default)',
        params: idParamsSchema,
        querystring: fromEpochQuerySchema,
        response: { 200: metricsSchema, ...errors(400, 404) },
      },
    },
    async (request) => {
      const epochs = await manager.metrics(request.tenant, request.params.id);
      if (!epochs) throw notFound('job', request.params.id);
      return {
        jobId: request.params.id,
        epochs: epochs
          .filter((e) => e.epoch >= request.query.from)
          .map((e) =>
            e.valLoss === undefined
              ? { epoch: e.epoch, loss: finiteOrNull(e.loss), elapsedMs: e.elapsedMs }
              : { epoch: e.epoch, loss: finiteOrNull(e.loss), valLoss: finiteOrNull(e.valLoss), elapsedMs: e.elapsedMs },
          ),
      };
    },
  );

  app.post(
    '/jobs/:id/cancel',
    {
      serializerCompiler: jobResponseSerializerCompiler,
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a queued or running job',
        description:
          'A queued job is cancelled at once. A running job stops cooperatively at the end of its current epoch (its status ' +
          'may still read `running` in this answer; watch the stream or poll). Cancelling a cancelled job is a no-op; a job ' +
          'that already succeeded or failed answers 409 `job_finished`.',
        params: idParamsSchema,
        response: { 200: jobSchema, ...errors(404, 409) },
      },
    },
    async (request) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      if (job.status === 'cancelled') return toJobView(job);
      if (TERMINAL_STATUSES.includes(job.status))
        throw new ApiError(409, 'job_finished', `job ${job.id} already ${job.status}; there is nothing to cancel`);
      const cancelled = await manager.cancel(request.tenant, job.id);
      if (!cancelled) throw notFound('job', job.id);
      request.log.info({ jobId: job.id }, 'job cancel requested');
      return toJobView(cancelled);
    },
  );

  app.delete(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Delete a finished job with its metrics and checkpoints',
        description: 'A queued or running job answers 409 `job_active`: cancel it first.',
        params: idParamsSchema,
        response: { 204: z.undefined().describe('Deleted'), ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      if (!TERMINAL_STATUSES.includes(job.status))
        throw new ApiError(409, 'job_active', `job ${job.id} is ${job.status}; cancel it first (POST /v1/jobs/${job.id}/cancel)`);
      if (!(await manager.delete(request.tenant, job.id))) throw notFound('job', job.id);
      return reply.code(204).send();
    },
  );
};
