import { z } from 'zod';
import { storedJobSpecSchema } from '../../spec/job-spec.js';
import { queryInteger, timestamp } from './common.js';

export const jobStatusSchema = z
  .enum(['queued', 'running', 'succeeded', 'failed', 'cancelled'])
  .meta({ id: 'JobStatus' });

export const jobErrorSchema = z
  .object({
    code: z.string().describe("'diverged', 'worker_crashed', 'timeout', 'invalid_data', 'store_error', 'internal', ..."),
    message: z.string(),
  })
  .meta({ id: 'JobError' });

export const jobDetailsSchema = z
  .object({
    split: z
      .object({ trainRows: z.number().int(), validationRows: z.number().int(), rule: z.string() })
      .optional()
      .describe('With training.validation: the rows trained and validated on, and how they were chosen (from the seed)'),
    stoppedEarly: z
      .object({ epoch: z.number().int(), bestEpoch: z.number().int() })
      .optional()
      .describe('Early stopping ended training at `epoch`; the final checkpoint holds the weights of `bestEpoch`'),
    best: z
      .object({ epoch: z.number().int(), valLoss: z.number() })
      .optional()
      .describe('The epoch with the lowest validation loss'),
    warmStart: z
      .object({ jobId: z.string(), epoch: z.number().int(), kind: z.enum(['final', 'periodic']) })
      .optional()
      .describe('The checkpoint this job started from (warmStart, resolved when the job was submitted)'),
  })
  .meta({ id: 'JobDetails' });

export const jobLinksSchema = z.object({
  self: z.string(),
  stream: z.string().describe('WebSocket: replay, live epochs, final status'),
  metrics: z.string(),
  checkpoint: z.string(),
  checkpoints: z.string(),
  predictions: z.string(),
});

export const jobSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    status: jobStatusSchema,
    spec: storedJobSpecSchema.describe(
      'The spec as submitted, with defaults filled in and the seed used; inline rows are summarised as {kind: "inline", rows, sha256} (GET /v1/jobs/:id/data returns them)',
    ),
    epoch: z.number().int().describe('Epochs completed'),
    epochs: z.number().int().describe('Epochs requested'),
    lastLoss: z.number().nullable().describe('Loss of the last completed epoch; null before the first or when not finite'),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    updatedAt: timestamp,
    error: jobErrorSchema.nullable().describe('Why a job failed (or was cancelled by the server)'),
    details: jobDetailsSchema.nullable().describe('What the run recorded beyond its status; null when nothing'),
    links: jobLinksSchema,
  })
  .meta({ id: 'Job' });

export const listJobsQuerySchema = z.object({
  limit: queryInteger({ min: 1, max: 100 }).default(20).describe('Page size, 1..100; 20 when absent'),
  cursor: z.string().min(1).max(512).optional().describe('nextCursor of the previous page'),
  status: jobStatusSchema.optional().describe('Only jobs with this status'),
  tag: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a tag is 1-64 characters of A-Z a-z 0-9 _ . : -')
    .optional()
    .describe('Only jobs carrying this tag'),
  name: z.string().min(1).max(200).optional().describe('Only jobs whose name contains this text (case-insensitive)'),
});

export const jobPageSchema = z
  .object({
    items: z.array(jobSchema),
    nextCursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last page'),
  })
  .meta({ id: 'JobPage' });

export const jobRowsQuerySchema = z.object({
  part: z
    .enum(['data', 'validation'])
    .default('data')
    .describe("data: the training rows (spec.data); validation: the rows of spec.training.validation; data when absent"),
  offset: queryInteger({ min: 0 }).default(0).describe('First row (0-based); 0 when absent'),
  limit: queryInteger({ min: 1 })
    .optional()
    .describe('Rows at most; as many as fit in one page when absent (a page holds at most 100,000 numbers of x and y)'),
});

export const jobRowsSchema = z
  .object({
    part: z.enum(['data', 'validation']),
    total: z.number().int().describe('Rows of this part in all'),
    offset: z.number().int(),
    x: z.array(z.array(z.number())).describe('Rows [offset, offset + x.length) of x, as submitted'),
    y: z.array(z.array(z.number())).describe('The same rows of y'),
    nextOffset: z.number().int().nullable().describe('Pass as ?offset= for the next page; null after the last row'),
  })
  .meta({ id: 'JobRows', description: "A page of a job's inline rows, exactly as submitted (stored as float64)" });

export const epochMetricSchema = z.object({
  epoch: z.number().int().describe('1-based'),
  loss: z.number().nullable().describe('null when the loss was not finite (the job then fails as diverged)'),
  valLoss: z
    .number()
    .nullable()
    .optional()
    .describe('With training.validation: the loss over the validation rows after this epoch (null when not finite)'),
  elapsedMs: z.number().describe('Wall-clock ms since the job started running'),
});

export const fromEpochQuerySchema = z.object({
  from: queryInteger({ min: 1 })
    .default(1)
    .describe('First epoch to include (1-based, 1 when absent): a client that reconnects asks only for what it has not seen'),
});

export const streamQuerySchema = fromEpochQuerySchema.extend({
  access_token: z
    .string()
    .optional()
    .describe(
      'For browsers, which cannot set headers on a WebSocket: a stream token from POST /v1/stream-tokens, or an API key. ' +
        'Accepted on stream routes only; redacted from logs.',
    ),
});


export const metricsSchema = z
  .object({ jobId: z.string(), epochs: z.array(epochMetricSchema) })
  .meta({ id: 'JobMetrics' });

export const checkpointInfoSchema = z
  .object({
    epoch: z.number().int(),
    kind: z.enum(['final', 'periodic']),
    createdAt: timestamp,
    bytes: z.number().int().describe('Size of the safetensors file'),
    links: z.object({ download: z.string(), json: z.string() }),
  })
  .meta({ id: 'Checkpoint' });

export const checkpointListSchema = z.object({ jobId: z.string(), items: z.array(checkpointInfoSchema) });

export const checkpointQuerySchema = z.object({
  epoch: queryInteger({ min: 1 }).optional().describe('A periodic checkpoint; the final one (or the newest) when absent'),
  format: z.enum(['safetensors', 'json']).default('safetensors').describe('json: tensors as nested number arrays'),
});

export const checkpointJsonSchema = z
  .object({
    tensors: z.record(
      z.string(),
      z.object({
        dtype: z.string().describe("'F32' (safetensors dtype)"),
        shape: z.array(z.number().int()),
        data: z.unknown().describe("Nested arrays in the tensor's shape, as tensor.tolist() gives; a number for a 0-d tensor"),
      }),
    ),
    metadata: z.record(z.string(), z.string()),
  })
  .meta({ id: 'CheckpointJson' });

export const predictionRequestSchema = z
  .object({
    x: z.array(z.array(z.number())).describe('Rows of inputs, each model.inputDim wide'),
  })
  .strict()
  .meta({ id: 'PredictionRequest' });

export const predictionResponseSchema = z
  .object({ y: z.array(z.array(z.number().nullable())).describe('One row of outputDim values per input row') })
  .meta({ id: 'PredictionResponse' });

export const streamMessageSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('epoch'), epoch: z.number().int(), loss: z.number().nullable(), valLoss: z.number().nullable().optional() }),
    z.object({
      type: z.literal('status'),
      status: jobStatusSchema,
      epoch: z.number().int(),
      epochs: z.number().int(),
      lastLoss: z.number().nullable(),
      error: jobErrorSchema.nullable(),
      closing: z
        .string()
        .optional()
        .describe('Set when the server closes the stream before the job ended (it is shutting down): what happens next'),
    }),
    z.object({ type: z.literal('dropped'), count: z.number().int(), reason: z.string() }),
  ])
  .meta({ id: 'StreamMessage', description: 'One WebSocket text frame (JSON)' });
