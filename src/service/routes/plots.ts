/**
 * Plots without JavaScript: GET /v1/jobs/:id/plots/loss.svg and /fit.svg, server-made SVG for a README or a report.
 * The drawing is in src/service/plots (pure functions); this file only gathers the job's numbers.
 */
import { getJobOr404 } from './job-views.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseSafetensors } from '../../engine/safetensorsFormat.js';
import { renderFitPlot, renderLossPlot } from '../plots/index.js';
import { ApiError, notFound } from '../plugins/errors.js';
import { errors, idParamsSchema, queryInteger } from '../schemas/common.js';
import { unpackMatrix } from '../store/codec.js';

const flag = z
  .enum(['0', '1', 'true', 'false'])
  .optional()
  .transform((v) => v === '1' || v === 'true');
const size = (lo: number, hi: number) => queryInteger({ min: lo, max: hi }).optional();

const lossQuerySchema = z.object({
  log: flag.describe('1: log-scale loss axis (epochs whose loss is not positive are left out, and the plot says so)'),
  width: size(200, 4000).describe('Pixels, 200..4000 (default 640)'),
  height: size(150, 4000).describe('Pixels, 150..4000 (default 400)'),
});
const fitQuerySchema = z.object({
  epoch: queryInteger({ min: 1 }).optional().describe('Draw the line of this periodic checkpoint; the final (or newest) one when absent'),
  width: size(200, 4000).describe('Pixels, 200..4000 (default 640)'),
  height: size(150, 4000).describe('Pixels, 150..4000 (default 400)'),
});
const svgResponse = {
  description: 'An SVG document',
  content: { 'image/svg+xml': { schema: z.string().describe('SVG 1.1') } },
};

const SVG_TYPE = 'image/svg+xml; charset=utf-8';

export const plotRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager, store } = app.gradloom;

  app.get(
    '/jobs/:id/plots/loss.svg',
    {
      schema: {
        tags: ['jobs'],
        summary: 'The loss curve as an SVG image',
        description: 'Axes, ticks, labels and title; `?log=1` for a log-scale loss axis. Drawn from GET /metrics, so it works at any point of a job.',
        params: idParamsSchema,
        querystring: lossQuerySchema,
        response: { 200: svgResponse, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const job = await getJobOr404(manager, request.tenant, id);
      const epochs = (await manager.metrics(request.tenant, id)) ?? [];
      const svg = renderLossPlot({
        jobLabel: job.name ?? job.id,
        epochs: epochs.map((e) => ({ epoch: e.epoch, loss: e.loss })),
        log: request.query.log,
        lossName: job.spec.training.loss,
        width: request.query.width,
        height: request.query.height,
      });
      return reply.type(SVG_TYPE).header('cache-control', 'no-store').send(svg as never);
    },
  );

  app.get(
    '/jobs/:id/plots/fit.svg',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Training points and the fitted line (1-input linear regression) as an SVG image',
        description:
          'The tutorial\'s figure. Only for `linear_regression` with inputDim 1 and outputDim 1 (400 `plot_unavailable` otherwise) ' +
          'and inline or dataset data (409 `data_unavailable` for random data, which is drawn in the worker and not stored). ' +
          'The line comes from the final checkpoint, or the newest periodic one while the job runs (409 `no_checkpoint` before the first).',
        params: idParamsSchema,
        querystring: fitQuerySchema,
        response: { 200: svgResponse, ...errors(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const job = await getJobOr404(manager, request.tenant, id);
      const { model, data } = job.spec;
      if (model.kind !== 'linear_regression' || model.inputDim !== 1 || model.outputDim !== 1) {
        const shape = model.kind === 'linear_regression' ? `linear_regression ${model.inputDim}→${model.outputDim}` : model.kind;
        throw new ApiError(
          400,
          'plot_unavailable',
          `fit.svg draws a line through 1-input data: it needs model linear_regression with inputDim 1 and outputDim 1, job ${job.id} is ${shape}; loss.svg works for every job`,
        );
      }
      let x: number[][];
      let y: number[][];
      if (data.kind === 'inline') {
        // 1-input rows: two numbers each, so even the largest body is a few MB here.
        const stored = await store.getJobRows(job.id, 'data');
        if (!stored) throw new ApiError(409, 'data_unavailable', `job ${job.id}'s inline rows are missing from the store; there are no points to draw`);
        x = unpackMatrix(stored.rows.x, stored.rows.rows, 1);
        y = unpackMatrix(stored.rows.y, stored.rows.rows, 1);
      } else if (data.kind === 'dataset') {
        const dataset = await store.getDataset(request.tenant, data.id);
        if (!dataset) throw new ApiError(409, 'data_unavailable', `dataset ${data.id} used by job ${job.id} was deleted; there are no points to draw`);
        x = unpackMatrix(dataset.rows.x, dataset.rows.rows, 1);
        y = unpackMatrix(dataset.rows.y, dataset.rows.rows, 1);
      } else {
        throw new ApiError(
          409,
          'data_unavailable',
          `job ${job.id} trains on random data drawn inside the worker (seed ${job.spec.seed}); it is not stored, so there are no points to draw`,
        );
      }
      const checkpoint = await store.getCheckpoint(job.id, request.query.epoch);
      if (!checkpoint) {
        if (request.query.epoch !== undefined) throw notFound('checkpoint', `at epoch ${request.query.epoch}`, ` for job ${job.id}`);
        throw new ApiError(
          409,
          'no_checkpoint',
          `job ${job.id} has no checkpoint yet (status ${job.status}, epoch ${job.epoch} of ${job.epochs}); the line comes from a checkpoint: wait for the job to finish or set checkpointEvery`,
        );
      }
      const tensors = parseSafetensors(checkpoint.safetensors).tensors;
      const weight = tensors.weight?.data[0];
      const bias = tensors.bias?.data[0] ?? 0;
      if (weight === undefined) throw new Error(`checkpoint of job ${job.id} has no 'weight' tensor`);
      const svg = renderFitPlot({
        jobLabel: job.name ?? job.id,
        x,
        y,
        weight,
        bias,
        epoch: checkpoint.info.epoch,
        width: request.query.width,
        height: request.query.height,
      });
      return reply.type(SVG_TYPE).header('cache-control', 'no-store').send(svg as never);
    },
  );
};
