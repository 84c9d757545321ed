import { z } from 'zod';
import { timestamp } from './common.js';

export const datasetCreateSchema = z
  .object({
    name: z.string().max(200).optional(),
    x: z.array(z.array(z.number())).describe('Input rows, all the same width'),
    y: z.array(z.array(z.number())).describe('Target rows, as many as x, all the same width'),
  })
  .strict()
  .meta({ id: 'DatasetCreate' });

export const datasetCreateQuerySchema = z.object({
  target: z
    .string()
    .max(10_000)
    .optional()
    .describe('CSV only: comma-separated names of the target columns; the last column when absent'),
  name: z.string().max(200).optional().describe('CSV only: a name for the dataset'),
});

export const datasetSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    rows: z.number().int(),
    inputDim: z.number().int(),
    outputDim: z.number().int(),
    columns: z.object({ x: z.array(z.string()), y: z.array(z.string()) }).nullable().describe('Column names of a CSV upload'),
    createdAt: timestamp,
    bytes: z.number().int(),
    links: z.object({ self: z.string() }),
  })
  .meta({ id: 'Dataset' });
