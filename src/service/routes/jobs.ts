/** /v1/jobs: submit, list, read, metrics, cancel, delete. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jobSpecSchema } from '../../spec/job-spec.js';
import { TERMINAL_STATUSES } from '../jobs/types.js';
import { unpackMatrix } from '../store/codec.js';
import { checkJobSpec } from '../limits.js';
import { ApiError, notFound, validationError } from '../plugins/errors.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { fromEpochQuerySchema, jobPageSchema, jobRowsQuerySchema, jobRowsSchema, jobSchema, listJobsQuerySchema, metricsSchema } from '../schemas/jobs.js';
import { finiteOrNull, logJobId, toJobView, getJobOr404 } from './job-views.js';

const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe('Retrying a POST with the same key returns the same job (200) instead of creating another'),
});

/** A page of GET /v1/jobs/:id/data holds at most this many numbers (x and y): a few MB of JSON at most. */
export const ROWS_PAGE_MAX_VALUES = 100_000;

export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager, store, config } = app.gradloom;

  app.addHook('preHandler', async (request, reply) => logJobId(request, reply));

  app.post(
    '/jobs',
    {
      config: { bodyMatrices: 'job' },
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
      // A different body under a used key was refused by the manager (422 idempotency_key_reused).
      if (!created) reply.header('idempotent-replayed', 'true');
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
        description: 'Jobs as GET /v1/jobs/:id shows them (inline rows summarised; GET /v1/jobs/:id/data has them).',
        querystring: listJobsQuerySchema,
        response: { 200: jobPageSchema, ...errors(400) },
      },
    },
    async (request) => {
      const { limit, cursor, status, tag, name } = request.query;
      const page = await manager.list({ tenant: request.tenant, limit, cursor, status, tag, name });
      return { items: page.items.map(toJobView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/:id',
    {
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
    '/jobs/:id/data',
    {
      schema: {
        tags: ['jobs'],
        summary: "The job's inline rows, a page at a time",
        description:
          'The rows a job was submitted with inline (`data`, or `training.validation` with ?part=validation), exactly as ' +
          'sent. The job record keeps only their count and SHA-256 (spec.data), so reading or listing jobs never carries ' +
          `them. A page holds at most ${ROWS_PAGE_MAX_VALUES.toLocaleString('en')} numbers; follow nextOffset. 409 ` +
          '`data_unavailable` when that part of the spec is not inline rows (random data, a dataset, a fraction).',
        params: idParamsSchema,
        querystring: jobRowsQuerySchema,
        response: { 200: jobRowsSchema, ...errors(400, 404, 409) },
      },
    },
    async (request) => {
      const { part, offset, limit } = request.query;
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const { inputDim, outputDim } = job.spec.model;
      const pageMax = Math.max(1, Math.floor(ROWS_PAGE_MAX_VALUES / (inputDim + outputDim)));
      const found = await manager.rows(request.tenant, job.id, part, offset, Math.min(limit ?? pageMax, pageMax));
      if (!found) throw notFound('job', request.params.id);
      if (!found.page) {
        const kind = part === 'data' ? job.spec.data.kind : (job.spec.training.validation?.kind ?? 'none');
        throw new ApiError(
          409,
          'data_unavailable',
          `job ${job.id} has no inline ${part === 'data' ? 'training' : 'validation'} rows: its ${part === 'data' ? 'spec.data' : 'spec.training.validation'} is ${kind === 'none' ? 'absent' : `of kind "${kind}"`}`,
        );
      }
      const { total, rows } = found.page;
      const end = Math.min(total, offset) + rows.rows;
      return {
        part,
        total,
        offset: Math.min(total, offset),
        x: unpackMatrix(rows.x, rows.rows, rows.inputDim),
        y: unpackMatrix(rows.y, rows.rows, rows.outputDim),
        nextOffset: end < total ? end : null,
      };
    },
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
