/** /v1/datasets: upload (JSON or CSV), read, delete. */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DatasetRecord } from '../jobs/types.js';
import { checkInlineRows } from '../limits.js';
import { ApiError, notFound, validationError } from '../plugins/errors.js';
import { errors, idParamsSchema } from '../schemas/common.js';
import { datasetCreateQuerySchema, datasetCreateSchema, datasetSchema } from '../schemas/datasets.js';
import { CsvError, parseCsvInSlices } from './csv.js';
import { holdCheckedMatrices } from '../body/json-body.js';

/** Columns of a CSV upload travel from the content-type parser to the handler on the request. */
const csvColumns = new WeakMap<object, { x: string[]; y: string[] }>(); // keyed by request

function toDatasetView(record: DatasetRecord): z.output<typeof datasetSchema> {
  return {
    id: record.id,
    name: record.name,
    rows: record.rows,
    inputDim: record.inputDim,
    outputDim: record.outputDim,
    columns: record.columns,
    createdAt: record.createdAt,
    bytes: record.bytes,
    links: { self: `/v1/datasets/${encodeURIComponent(record.id)}` },
  };
}

export const datasetRoutes: FastifyPluginAsyncZod = async (app) => {
  const { store, config } = app.gradloom;
  const { limits } = config;

  // CSV becomes the JSON shape here, so that one body schema validates both kinds of upload.
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'string', bodyLimit: limits.maxBodyBytes }, async (request: FastifyRequest, body: string) => {
    // The query is validated after the body is parsed: a repeated parameter arrives here as an array.
    const query = request.query as { target?: unknown; name?: unknown };
    const repeated = (['target', 'name'] as const).filter((k) => Array.isArray(query[k]));
    if (repeated.length > 0) {
      throw validationError(
        repeated.map((k) => ({
          path: `query.${k}`,
          message: `is given ${(query[k] as unknown[]).length} times; give it once${k === 'target' ? ', naming several columns with commas (?target=a,b)' : ''}`,
        })),
      );
    }
    const target =
      typeof query.target === 'string' && query.target !== ''
        ? query.target
            .split(',')
            .map((t) => t.trim())
            .filter((t) => t !== '')
        : null;
    try {
      const parsed = await parseCsvInSlices(body, target, limits.maxDatasetRows);
      const result = { ...(typeof query.name === 'string' && query.name ? { name: query.name } : {}), x: parsed.x, y: parsed.y };
      csvColumns.set(request, parsed.columns);
      // The rows are checked numbers already: zod validates the upload without them.
      holdCheckedMatrices(request, result, ['x', 'y']);
      return result;
    } catch (err) {
      if (err instanceof CsvError) throw new ApiError(400, 'invalid_csv', err.message, err.line === null ? {} : { line: err.line });
      throw err;
    }
  });

  app.post(
    '/datasets',
    {
      config: { bodyMatrices: 'dataset' },
      schema: {
        tags: ['datasets'],
        summary: 'Upload a dataset (JSON or CSV)',
        description:
          'JSON: `{name?, x: number[][], y: number[][]}`. CSV (`Content-Type: text/csv`): a header row, then numbers; the ' +
          'columns named in `?target=a,b` are the targets, the others the inputs, in header order; without `target` the last ' +
          'column is the only target. Errors name the line (the header is line 1) and column. Use it in a job as ' +
          '`data: {kind: "dataset", id}`.',
        querystring: datasetCreateQuerySchema,
        body: datasetCreateSchema,
        response: { 201: datasetSchema, ...errors(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const { x, y, name } = request.body;
      const issues = checkInlineRows(x, y, null, null, limits, '');
      if (issues.length > 0) throw validationError(issues);
      const inputDim = x[0].length;
      const outputDim = y[0].length;
      if (inputDim > limits.maxInputDim)
        throw validationError([{ path: 'x', message: `rows have ${inputDim} values, above the limit of ${limits.maxInputDim} (MAX_INPUT_DIM)` }]);
      if (outputDim > limits.maxOutputDim)
        throw validationError([{ path: 'y', message: `rows have ${outputDim} values, above the limit of ${limits.maxOutputDim} (MAX_OUTPUT_DIM)` }]);
      const record = await store.createDataset({
        id: `d_${randomBytes(12).toString('base64url')}`,
        tenant: request.tenant,
        name: name ?? null,
        rows: x.length,
        inputDim,
        outputDim,
        columns: csvColumns.get(request) ?? null,
        createdAt: new Date().toISOString(),
        bytes: x.length * (inputDim + outputDim) * 8,
        x,
        y,
      });
      request.log.info({ datasetId: record.id, rows: record.rows }, 'dataset created');
      reply.header('location', `/v1/datasets/${record.id}`);
      return reply.code(201).send(toDatasetView(record));
    },
  );

  app.get(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: "A dataset's shape and columns",
        params: idParamsSchema,
        response: { 200: datasetSchema, ...errors(404) },
      },
    },
    async (request) => {
      const record = await store.getDatasetRecord(request.tenant, request.params.id);
      if (!record) throw notFound('dataset', request.params.id);
      return toDatasetView(record);
    },
  );

  app.delete(
    '/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Delete a dataset',
        description: 'New jobs can no longer use it; queued jobs that refer to it fail when they start.',
        params: idParamsSchema,
        response: { 204: z.undefined().describe('Deleted'), ...errors(404) },
      },
    },
    async (request, reply) => {
      if (!(await store.deleteDataset(request.tenant, request.params.id))) throw notFound('dataset', request.params.id);
      return reply.code(204).send();
    },
  );
};
