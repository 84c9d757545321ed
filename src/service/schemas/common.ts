import { z } from 'zod';

export const issueSchema = z
  .object({
    path: z.string().describe("Where the problem is, dotted: 'training.optimizer.lr', 'data.x.3', 'query.limit'"),
    message: z.string().describe('What is wrong and what is expected'),
  })
  .meta({ id: 'Issue' });

export const errorSchema = z
  .looseObject({
    error: z.string().describe("A stable code: 'validation_error', 'not_found', 'queue_full', 'payload_too_large', ..."),
    message: z.string().describe('For people: what went wrong and how to fix it'),
    issues: z.array(issueSchema).optional().describe('Present on validation_error: one entry per problem, at most 20'),
    issuesTotal: z
      .number()
      .int()
      .optional()
      .describe('Present when validation found more problems than `issues` lists: how many there were in all'),
  })
  .meta({ id: 'Error', description: 'Every error has this shape; some carry more fields (limit, retryAfterSeconds)' });

export const idParamsSchema = z.object({
  id: z.string().min(1).max(128).describe('The id returned when the resource was created'),
});

/** The error responses a route can give, for the OpenAPI document (the error handler builds the bodies). */
export function errors(...codes: number[]) {
  return Object.fromEntries(codes.map((c) => [c, errorSchema])) as Record<number, typeof errorSchema>;
}

export const timestamp = z.string().describe('ISO 8601, UTC');

export const matrixSchema = z.array(z.array(z.number()));

/**
 * An integer query parameter written in decimal digits. `z.coerce.number()` would also read `0x10` as 16, `1e3` as
 * 1000 and an empty string as 0; anything but digits stays a string here, which the number schema refuses. (A
 * preprocess, unlike a transform, leaves the OpenAPI document describing the number.)
 */
export function queryInteger(bounds: { min: number; max?: number }) {
  const int = z.number().int().min(bounds.min);
  return z.preprocess(
    (v) => (typeof v === 'string' && /^[0-9]{1,15}$/.test(v) ? Number(v) : v),
    bounds.max === undefined ? int : int.max(bounds.max),
  );
}
