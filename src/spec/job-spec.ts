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
    inputDim: positiveInt.describe('Features per input row (the tutorial: 1000)'),
    hiddenDim: positiveInt.describe('Hidden units (the tutorial: 100)'),
    outputDim: positiveInt.describe('Targets per row (the tutorial: 10)'),
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
    inputDim: positiveInt.describe('in_features (the tutorial: 1)'),
    outputDim: positiveInt.describe('out_features (the tutorial: 1)'),
  })
  .strict()
  .describe('nn.Linear(inputDim, outputDim)');

export const modelSpecSchema = z
  .discriminatedUnion('kind', [twoLayerNetSchema, linearRegressionSchema])
  .describe("The model to train; `kind` selects one of the shapes");

const matrix = z.array(z.array(finiteNumber));

export const inlineDataSchema = z
  .object({ kind: z.literal('inline'), x: matrix, y: matrix })
  .strict()
  .describe('Rows of inputs and targets; x is [n, inputDim], y is [n, outputDim]');
export const randomDataSchema = z
  .object({ kind: z.literal('random'), n: positiveInt.describe('Rows to draw (the tutorial: 64)') })
  .strict()
  .describe('x [n, inputDim] and y [n, outputDim] drawn from N(0,1) with the job seed, as in the tutorial');
export const datasetDataSchema = z
  .object({ kind: z.literal('dataset'), id: z.string().min(1) })
  .strict()
  .describe('A dataset uploaded with POST /v1/datasets');

export const dataSpecSchema = z
  .discriminatedUnion('kind', [inlineDataSchema, randomDataSchema, datasetDataSchema])
  .describe('Where the training data comes from; `kind` selects one of the shapes');

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
export const optimizerSpecSchema = z
  .discriminatedUnion('kind', [sgdSchema, adamSchema])
  .describe('torch.optim.SGD or torch.optim.Adam, with their PyTorch defaults');

export const trainingSpecSchema = z
  .object({
    epochs: positiveInt.describe('Optimizer steps over the whole data set (one step per batch)'),
    loss: z.enum(['mse', 'sse']).describe('mse: mean of squared errors (nn.MSELoss()); sse: sum, as in the tutorial'),
    optimizer: optimizerSpecSchema,
    batchSize: positiveInt.optional().describe('Full batch when absent'),
  })
  .strict();

export const jobSpecSchema = z
  .object({
    name: z.string().max(200).optional().describe('A label for people; not unique'),
    model: modelSpecSchema,
    data: dataSpecSchema,
    training: trainingSpecSchema,
    seed: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('torch.manual_seed(seed) before drawing data and weights; drawn and recorded when absent'),
    checkpointEvery: positiveInt.optional().describe('Keep a checkpoint every k epochs'),
  })
  .strict()
  .meta({
    id: 'JobSpec',
    description: 'What to train: a model, its data, the training loop, and optionally a seed and periodic checkpoints',
    examples: [
      {
        name: 'tutorial: two-layer net',
        model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
        data: { kind: 'random', n: 64 },
        training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
        seed: 0,
      },
      {
        name: 'tutorial: linear regression',
        model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
        data: {
          kind: 'inline',
          x: [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167], [7.042], [10.791], [5.313], [7.997], [3.1]],
          y: [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221], [2.827], [3.465], [1.65], [2.904], [1.3]],
        },
        training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
        seed: 0,
      },
    ],
  });

/** What the user sent (before defaults). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
/** The normalised spec: defaults filled in. This is what is stored and what a worker trains. */
export type JobSpec = z.output<typeof jobSpecSchema>;
export type ModelSpec = JobSpec['model'];
export type DataSpec = JobSpec['data'];
export type OptimizerSpec = JobSpec['training']['optimizer'];
