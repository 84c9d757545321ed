/** GET /v1/jobs/compare and /v1/jobs/compare.svg: several jobs side by side. */
import { z } from 'zod';
import { jobStatusSchema } from './jobs.js';

export const MAX_COMPARED_JOBS = 10;

export const compareIdsSchema = z
  .string()
  .min(1, 'name at least one job id: ?ids=ID1,ID2')
  .max(MAX_COMPARED_JOBS * 130, `at most ${MAX_COMPARED_JOBS} job ids, comma-separated`)
  .describe(`Job ids, comma-separated (1 to ${MAX_COMPARED_JOBS}; repeats count once)`);

export const compareQuerySchema = z.object({ ids: compareIdsSchema });

const size = (lo: number, hi: number) => z.coerce.number().int().min(lo).max(hi).optional();

export const compareSvgQuerySchema = z.object({
  ids: compareIdsSchema,
  log: z
    .enum(['0', '1', 'true', 'false', 'auto'])
    .default('auto')
    .describe('1: log-scale loss axis; auto (default): log when every loss is positive and they span 3 decades or more'),
  width: size(300, 4000).describe('Pixels, 300..4000 (default 800)'),
  height: size(200, 4000).describe('Pixels, 200..4000 (default 400 plus a legend row per job)'),
});

const hyperValue = z.union([z.number(), z.string(), z.boolean(), z.null()]);

export const compareSummarySchema = z.object({
  epochs: z.number().int().describe('Epochs with a reported loss so far'),
  finalLoss: z.number().nullable().describe('Loss of the last epoch (null before the first, or when not finite)'),
  bestLoss: z.number().nullable(),
  bestLossEpoch: z.number().int().nullable(),
  finalValLoss: z.number().nullable().describe('null without validation data'),
  bestValLoss: z.number().nullable(),
  bestValLossEpoch: z.number().int().nullable(),
});

export const compareJobSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  label: z.string().describe('How the plot names the job: its name, or its model and short id'),
  status: jobStatusSchema,
  epoch: z.number().int(),
  epochs: z.number().int(),
  hyperparameters: z
    .record(z.string(), hyperValue)
    .describe("The spec flattened to dotted keys ('training.optimizer.lr'); inline rows as their count ('data.rows')"),
  summary: compareSummarySchema,
  links: z.object({ self: z.string(), metrics: z.string(), pytorch: z.string() }),
});

export const compareSchema = z
  .object({
    jobs: z.array(compareJobSchema).describe('In the order of ?ids'),
    hyperparameters: z
      .array(
        z.object({
          key: z.string(),
          values: z.array(hyperValue).describe('One per job, in the order of `jobs`; null where a job has no such setting'),
          differs: z.boolean().describe('Whether the jobs disagree on it'),
        }),
      )
      .describe('Every key any job has, side by side'),
    links: z.object({ svg: z.string() }),
  })
  .meta({ id: 'JobComparison' });
