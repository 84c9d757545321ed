/**
 * The job specification: what a user POSTs to /v1/jobs. One zod schema is the source of truth for request validation,
 * TypeScript types, the OpenAPI document and the worker's input. Limits are not baked in here: the service refines
 * the spec against its configured limits (see src/service/limits.ts) so that operators can change them.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const finiteNumber = z.number().finite();

export const twoLayerNetSchema = z
  .object({
    kind: z.literal('two_layer_net'),
    inputDim: positiveInt,
    hiddenDim: positiveInt,
    outputDim: positiveInt,
    bias: z.boolean().default(false).describe('false reproduces the tutorial (no bias); true adds nn.Linear biases'),
    init: z
      .enum(['randn', 'default'])
      .default('randn')
      .describe('randn: weights drawn from N(0,1) as in the tutorial; default: nn.Linear initialisation'),
  })
  .strict()
  .describe("The tutorial's net: x.mm(w1).clamp(min=0).mm(w2), named as nn.Sequential(Linear, ReLU, Linear)");

export const linearRegressionSchema = z
  .object({
    kind: z.literal('linear_regression'),
    inputDim: positiveInt,
    outputDim: positiveInt,
  })
  .strict()
  .describe('nn.Linear(inputDim, outputDim)');

export const modelSpecSchema = z.discriminatedUnion('kind', [twoLayerNetSchema, linearRegressionSchema]);

const matrix = z.array(z.array(finiteNumber));

export const inlineDataSchema = z
  .object({ kind: z.literal('inline'), x: matrix, y: matrix })
  .strict()
  .describe('Rows of inputs and targets; x is [n, inputDim], y is [n, outputDim]');
export const randomDataSchema = z
  .object({ kind: z.literal('random'), n: positiveInt })
  .strict()
  .describe('x [n, inputDim] and y [n, outputDim] drawn from N(0,1) with the job seed, as in the tutorial');
export const datasetDataSchema = z
  .object({ kind: z.literal('dataset'), id: z.string().min(1) })
  .strict()
  .describe('A dataset uploaded with POST /v1/datasets');

export const dataSpecSchema = z.discriminatedUnion('kind', [inlineDataSchema, randomDataSchema, datasetDataSchema]);

export const sgdSchema = z
  .object({
    kind: z.literal('sgd'),
    lr: finiteNumber.positive(),
    momentum: finiteNumber.min(0).default(0),
    dampening: finiteNumber.min(0).default(0),
    weightDecay: finiteNumber.min(0).default(0),
    nesterov: z.boolean().default(false),
  })
  .strict();
export const adamSchema = z
  .object({
    kind: z.literal('adam'),
    lr: finiteNumber.positive(),
    betas: z.tuple([finiteNumber.min(0).lt(1), finiteNumber.min(0).lt(1)]).default([0.9, 0.999]),
    eps: finiteNumber.positive().default(1e-8),
    weightDecay: finiteNumber.min(0).default(0),
    amsgrad: z.boolean().default(false),
  })
  .strict();
export const optimizerSpecSchema = z.discriminatedUnion('kind', [sgdSchema, adamSchema]);

export const trainingSpecSchema = z
  .object({
    epochs: positiveInt,
    loss: z.enum(['mse', 'sse']).describe('mse: mean of squared errors (nn.MSELoss()); sse: sum, as in the tutorial'),
    optimizer: optimizerSpecSchema,
    batchSize: positiveInt.optional().describe('Full batch when absent'),
  })
  .strict();

export const jobSpecSchema = z
  .object({
    name: z.string().max(200).optional(),
    model: modelSpecSchema,
    data: dataSpecSchema,
    training: trainingSpecSchema,
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    checkpointEvery: positiveInt.optional().describe('Keep a checkpoint every k epochs'),
  })
  .strict();

/** What the user sent (before defaults). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The normalised spec: defaults filled in. This is what is stored and what a worker trains. */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type ModelSpec = JobSpec['model'];
export type DataSpec = JobSpec['data'];
export type OptimizerSpec = JobSpec['training']['optimizer'];
