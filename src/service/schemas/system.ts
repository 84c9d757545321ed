import { z } from 'zod';

export const healthSchema = z.object({ status: z.literal('ok') });

export const readySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.string()).describe("'ok', or why a part is not ready"),
  })
  .meta({ id: 'Readiness' });

export const limitsSchema = z
  .object({
    maxInputDim: z.number().int(),
    maxHiddenDim: z.number().int(),
    maxOutputDim: z.number().int(),
    maxParameters: z.number().int(),
    maxEpochs: z.number().int(),
    maxDatasetRows: z.number().int(),
    maxBodyBytes: z.number().int(),
    maxQueuedJobs: z.number().int(),
    maxRunningJobs: z.number().int(),
    maxCheckpointsPerJob: z.number().int(),
    jobTimeoutMs: z.number().int(),
    maxJobMemoryBytes: z.number().int(),
    streamBufferMessages: z.number().int(),
  })
  .meta({ id: 'Limits', description: 'The limits this server enforces; each is set by the environment variable in its name' });
