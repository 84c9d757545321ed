/**
 * GET /v1/jobs/:id/pytorch: the job as a runnable PyTorch program (src/training/pytorch-script.ts), so that anyone
 * can check gradloom's numbers against PyTorch themselves.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pytorchScript } from '../../training/pytorch-script.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { getJobOr404, logJobId } from './job-views.js';

/** A file name from an id: ids are UUIDs, but the header must stay well-formed whatever it holds. */
export const scriptFileName = (id: string) => `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.py`;

export const reproduceRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager } = app.gradloom;
  app.addHook('preHandler', async (request, reply) => logJobId(request, reply));

  app.get(
    '/jobs/:id/pytorch',
    {
      schema: {
        tags: ['jobs'],
        summary: 'The job as a runnable PyTorch script',
        description:
          "A Python program in the tutorials' style that trains the job's spec in PyTorch (same seed, data, model, loss, " +
          'optimizer, schedule, validation and early stopping) and prints `epoch loss [valLoss]` per epoch, the numbers ' +
          'of GET /metrics. Inline rows are embedded up to 10,000 numbers and fetched from GET /v1/jobs/:id beyond; a ' +
          "dataset's rows are read from a file named in the script (the API does not give them back). Works at any point of a job.",
        params: idParamsSchema,
        response: {
          200: { description: 'A Python 3 script', content: { 'text/x-python': { schema: z.string() } } },
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      const job = await getJobOr404(manager, request.tenant, request.params.id);
      const script = pytorchScript(job.spec, { jobId: job.id, baseUrl: `${request.protocol}://${request.host}` });
      return reply
        .type('text/x-python; charset=utf-8')
        .header('content-disposition', `attachment; filename="${scriptFileName(job.id)}"`)
        .header('cache-control', 'no-store')
        .send(script as never);
    },
  );
};
