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

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

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

export const fractionValidationSchema = z
  .object({
    kind: z.literal('fraction'),
    fraction: z
      .number()
      .gt(0, 'validation.fraction must be greater than 0 (and below 1)')
      .lt(1, 'validation.fraction must be below 1 (and greater than 0)')
      .describe('Share of the data held out: round(fraction * n) rows, at least 1, leaving at least 1 to train on'),
  })
  .strict()
  .describe(
    'Rows held out from the data. The split is deterministic from the seed: perm = torch.randperm(n, ' +
      'generator=torch.Generator().manual_seed(seed)); validation = sorted(perm[:k]), training = sorted(perm[k:]), ' +
      'k = floor(fraction * n + 0.5). It draws from a generator of its own, so the data and weights are drawn as without it',
  );
export const inlineValidationSchema = z
  .object({ kind: z.literal('inline'), x: matrix, y: matrix })
  .strict()
  .describe('Validation rows given with the job; x is [m, inputDim], y is [m, outputDim]');
export const datasetValidationSchema = z
  .object({ kind: z.literal('dataset'), id: z.string().min(1) })
  .strict()
  .describe('A dataset uploaded with POST /v1/datasets, used as validation rows');
export const validationSpecSchema = z
  .discriminatedUnion('kind', [fractionValidationSchema, inlineValidationSchema, datasetValidationSchema])
  .describe(
    'Validation data: after each epoch the loss over all of it (same loss function, no gradient, one batch) is ' +
      'reported as valLoss',
  );

export const earlyStoppingSchema = z
  .object({
    patience: z
      .number()
      .int('earlyStopping.patience must be a whole number of epochs')
      .min(1, 'earlyStopping.patience must be at least 1 epoch')
      .describe('Stop after this many epochs in a row without improvement'),
    minDelta: finiteNumber
      .min(0, 'earlyStopping.minDelta must be >= 0')
      .default(0)
      .describe('An epoch improves when valLoss + minDelta < the best valLoss so far (Keras and Lightning)'),
  })
  .strict()
  .describe("Stop on the validation loss; the job's final checkpoint is then the best epoch's weights");

export const stepSchedulerSchema = z
  .object({
    kind: z.literal('step'),
    stepSize: z
      .number()
      .int('scheduler.stepSize must be a whole number of epochs')
      .min(1, 'scheduler.stepSize must be at least 1 epoch'),
    gamma: finiteNumber.positive('scheduler.gamma must be > 0').default(0.1),
  })
  .strict()
  .describe('torch.optim.lr_scheduler.StepLR(optimizer, step_size=stepSize, gamma=gamma)');
export const cosineSchedulerSchema = z
  .object({
    kind: z.literal('cosine'),
    tMax: z.number().int('scheduler.tMax must be a whole number of epochs').min(1, 'scheduler.tMax must be at least 1 epoch'),
    etaMin: finiteNumber.min(0, 'scheduler.etaMin must be >= 0').default(0),
  })
  .strict()
  .describe('torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=tMax, eta_min=etaMin)');
export const schedulerSpecSchema = z
  .discriminatedUnion('kind', [stepSchedulerSchema, cosineSchedulerSchema])
  .describe(
    'A learning-rate schedule, stepped once per epoch after the optimizer (scheduler.step() at the end of each ' +
      'epoch), with PyTorch 1.13 numbers; with a schedule the tutorial net is trained by torch.optim.SGD',
  );

export const trainingSpecSchema = z
  .object({
    epochs: positiveInt.describe('Optimizer steps over the whole data set (one step per batch)'),
    loss: z.enum(['mse', 'sse']).describe('mse: mean of squared errors (nn.MSELoss()); sse: sum, as in the tutorial'),
    optimizer: optimizerSpecSchema,
    batchSize: positiveInt.optional().describe('Full batch when absent'),
    validation: validationSpecSchema.optional(),
    earlyStopping: earlyStoppingSchema.optional(),
    scheduler: schedulerSpecSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.earlyStopping && !t.validation) {
      ctx.addIssue({
        code: 'custom',
        path: ['earlyStopping'],
        message: 'training.earlyStopping needs training.validation (it stops on the validation loss); add e.g. {"kind": "fraction", "fraction": 0.2}',
      });
    }
  });

const TAG = /^[A-Za-z0-9_.:-]{1,64}$/;

export const warmStartSchema = z
  .object({
    jobId: z.uuid('warmStart.jobId must be the id (a UUID) of a job with a checkpoint'),
    epoch: z
      .number()
      .int('warmStart.epoch must be a whole epoch number')
      .positive('warmStart.epoch must be >= 1')
      .optional()
      .describe("A checkpoint epoch of that job (its list: GET /v1/jobs/:id/checkpoints); the final one when absent"),
  })
  .strict()
  .describe(
    "Start from another job's weights instead of the seed's initialisation (the model must have the same state-dict " +
      'names and shapes). The seed still draws the data (and the initial weights, which are then replaced), so the ' +
      'data are those of the same spec without warmStart',
  );

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
    warmStart: warmStartSchema.optional(),
    tags: z
      .array(z.string().regex(TAG, 'a tag is 1-64 characters of A-Z a-z 0-9 _ . : -'))
      .max(20, 'at most 20 tags')
      .optional()
      .describe('Labels to find the job by (GET /v1/jobs?tag=)'),
    webhook: z
      .object({
        url: z
          .string()
          .max(2048, 'webhook.url is longer than 2048 characters')
          .refine(isHttpUrl, 'webhook.url must be an absolute http:// or https:// URL'),
      })
      .strict()
      .optional()
      .describe('Told when the job ends (succeeded, failed or cancelled)'),
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
export type ValidationSpec = NonNullable<JobSpec['training']['validation']>;
export type SchedulerSpec = NonNullable<JobSpec['training']['scheduler']>;

/**
 * Inline rows as a job keeps them: a job record holds their count and digest, and the rows themselves are stored
 * apart (GET /v1/jobs/:id/data), so reading, listing and streaming a job cost the same for 15 rows or 16 MB.
 */
export const inlineRowsSummarySchema = z
  .object({
    kind: z.literal('inline'),
    rows: z.number().int().describe('Rows of x (and y); GET /v1/jobs/:id/data returns them'),
    sha256: z
      .string()
      .describe('SHA-256 (hex) of the rows as float64 little-endian, all of x then all of y, row-major: equal digests, equal data'),
  })
  .meta({ id: 'InlineRowsSummary', description: 'Rows sent inline with the job, kept apart from it (GET /v1/jobs/:id/data)' });

/** The spec as a job keeps it: inline data and inline validation rows reduced to InlineRowsSummary, the seed resolved. */
export const storedJobSpecSchema = jobSpecSchema.extend({
  seed: z.number().int().describe('The seed used (drawn when the request had none)'),
  data: z
    .discriminatedUnion('kind', [inlineRowsSummarySchema, randomDataSchema, datasetDataSchema])
    .describe('Where the training data comes from; inline rows summarised'),
  training: z
    .object({
      ...trainingSpecSchema.shape,
      validation: z
        .discriminatedUnion('kind', [fractionValidationSchema, inlineRowsSummarySchema, datasetValidationSchema])
        .optional()
        .describe('Validation data; inline rows summarised'),
    })
    .strict(),
});

export type InlineRowsSummary = z.output<typeof inlineRowsSummarySchema>;
export type StoredJobSpec = z.output<typeof storedJobSpecSchema>;
/** A spec with its inline rows in it (as submitted) or as a job keeps it (rows apart). */
export type AnyJobSpec = JobSpec | StoredJobSpec;
/** What a trainer accepts: either kind of spec with its seed; a stored spec's inline rows come as TrainingData. */
export type TrainableSpec = AnyJobSpec & { seed: number };
