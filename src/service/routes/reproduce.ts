/**
 * GET /v1/jobs/:id/pytorch: the job as a runnable PyTorch program (src/training/pytorch-script.ts), so that anyone
 * can check gradloom's numbers against PyTorch themselves.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EMBED_MAX_VALUES, inlineValues, pytorchScript } from '../../training/pytorch-script.js';
import type { JobRecord, JobManager, RowsPart } from '../jobs/types.js';
import { unpackMatrix } from '../store/codec.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { getJobOr404, logJobId } from './job-views.js';

/** A file name from an id: ids are UUIDs, but the header must stay well-formed whatever it holds. */
export const scriptFileName = (id: string) => `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.py`;

/** The job's inline rows that the script embeds (small enough); larger ones the script fetches itself. */
async function embeddableRows(manager: JobManager, job: JobRecord): Promise<Partial<Record<RowsPart, { x: number[][]; y: number[][] }>>> {
  const out: Partial<Record<RowsPart, { x: number[][]; y: number[][] }>> = {};
  const parts = [['data', job.spec.data], ['validation', job.spec.training.validation]] as const;
  for (const [part, spec] of parts) {
    if (spec?.kind !== 'inline' || inlineValues(spec, job.spec.model) > EMBED_MAX_VALUES) continue;
    const found = await manager.rows(job.tenant, job.id, part, 0, spec.rows);
    const r = found?.page?.rows;
    if (r) out[part] = { x: unpackMatrix(r.x, r.rows, r.inputDim), y: unpackMatrix(r.y, r.rows, r.outputDim) };
  }
  return out;
}

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
          'of GET /metrics. Inline rows are embedded up to 10,000 numbers and fetched from GET /v1/jobs/:id/data beyond; a ' +
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
      const rows = await embeddableRows(manager, job);
      const script = pytorchScript(job.spec, { jobId: job.id, baseUrl: `${request.protocol}://${request.host}`, rows });
      return reply
        .type('text/x-python; charset=utf-8')
        .header('content-disposition', `attachment; filename="${scriptFileName(job.id)}"`)
        .header('cache-control', 'no-store')
        .send(script as never);
    },
  );
};
