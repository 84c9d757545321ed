/** Checkpoints (safetensors, or JSON for people) and predictions from the stored state dict. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobRecord } from '../jobs/types.js';
import { checkInlineRows } from '../limits.js';
import { ApiError, notFound, validationError } from '../plugins/errors.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import {
  checkpointJsonSchema,
  checkpointListSchema,
  checkpointQuerySchema,
  predictionRequestSchema,
  predictionResponseSchema,
} from '../schemas/jobs.js';
import { finiteOrNull, logJobId, getJobOr404 } from './job-views.js';
import { safetensorsToJson } from './safetensors-json.js';

function noCheckpointYet(job: JobRecord): ApiError {
  return new ApiError(
    409,
    'no_checkpoint',
    `job ${job.id} has no checkpoint yet (status ${job.status}, epoch ${job.epoch} of ${job.epochs})` +
      (job.status === 'queued' || job.status === 'running' ? '; wait for it to finish or set checkpointEvery' : ''),
  );
}

export const checkpointRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager, store, config } = app.gradloom;

  app.addHook('preHandler', async (request, reply) => logJobId(request, reply));

  app.get(
    '/jobs/:id/checkpoints',
    {
      schema: {
        tags: ['checkpoints'],
        summary: 'Checkpoints kept for a job (periodic ones with checkpointEvery, and the final one)',
        params: idParamsSchema,
        response: { 200: checkpointListSchema, ...errors(404) },
      },
    },
    async (request) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const items = await store.listCheckpoints(job.id);
      const base = `/v1/jobs/${encodeURIComponent(job.id)}/checkpoint`;
      return {
        jobId: job.id,
        items: items.map((c) => {
          const query = c.kind === 'final' ? '' : `?epoch=${c.epoch}`;
          return {
            epoch: c.epoch,
            kind: c.kind,
            createdAt: c.createdAt,
            bytes: c.bytes,
            links: { download: `${base}${query}`, json: `${base}${query ? `${query}&` : '?'}format=json` },
          };
        }),
      };
    },
  );

  app.get(
    '/jobs/:id/checkpoint',
    {
      schema: {
        tags: ['checkpoints'],
        summary: 'Download a checkpoint: the state dict as safetensors (or JSON)',
        description:
          'Without `epoch`: the final checkpoint, or the newest periodic one while the job runs. The safetensors file uses ' +
          "PyTorch's state dict names (`0.weight`, `2.weight` for the two-layer net; `weight`, `bias` for linear " +
          'regression), so `model.load_state_dict(safetensors.torch.load_file(path))` loads it. 409 `no_checkpoint` before ' +
          'the first one exists.',
        params: idParamsSchema,
        querystring: checkpointQuerySchema,
        response: {
          200: {
            description: 'The checkpoint',
            content: {
              'application/octet-stream': { schema: z.string().describe('safetensors bytes') },
              'application/json': { schema: checkpointJsonSchema },
            },
          },
          ...errors(400, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const { epoch, format } = request.query;
      const checkpoint = await store.getCheckpoint(job.id, epoch);
      if (!checkpoint) {
        if (epoch === undefined) throw noCheckpointYet(job);
        const kept = (await store.listCheckpoints(job.id)).map((c) => c.epoch);
        throw notFound('checkpoint', `at epoch ${epoch}`, ` for job ${job.id}; kept epochs: ${kept.length ? kept.join(', ') : 'none'}`);
      }
      if (format === 'json') {
        reply.type('application/json; charset=utf-8');
        return safetensorsToJson(checkpoint.safetensors);
      }
      const suffix = checkpoint.info.kind === 'final' ? '' : `-epoch${checkpoint.info.epoch}`;
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${job.id}${suffix}.safetensors"`)
        // A Buffer is sent as it is (fastify does not serialize it); the schema above only documents the bytes.
        .send(Buffer.from(checkpoint.safetensors.buffer, checkpoint.safetensors.byteOffset, checkpoint.safetensors.byteLength) as never);
    },
  );

  app.post(
    '/jobs/:id/predictions',
    {
      config: { bodyMatrices: 'prediction' },
      schema: {
        tags: ['predictions'],
        summary: "Run the trained model on rows of inputs: the state dict's forward pass",
        description:
          'Uses the final checkpoint (or the newest periodic one while the job runs). 400 when a row is not model.inputDim ' +
          'wide; 409 `no_checkpoint` before there is one.',
        params: idParamsSchema,
        body: predictionRequestSchema,
        response: { 200: predictionResponseSchema, ...errors(400, 404, 409, 413) },
      },
    },
    async (request) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const issues = checkInlineRows(request.body.x, null, job.spec.model.inputDim, null, config.limits, '');
      if (issues.length > 0)
        throw validationError(issues, `${issues[0].message}; this model expects rows of inputDim=${job.spec.model.inputDim} values`);
      if ((await store.listCheckpoints(job.id)).length === 0) throw noCheckpointYet(job);
      const y = await manager.predict(request.tenant, job.id, request.body.x);
      return { y: y.map((row) => row.map(finiteOrNull)) };
    },
  );
};
