/**
 * Finished jobs written straight to the store, as the runtime would leave them, so that a dashboard test controls
 * the exact losses, status and checkpoints it shows.
 */
import { randomUUID } from 'node:crypto';
import { serializeSafetensors } from '../../src/engine/safetensorsFormat.js';
import { newJobRecord } from '../../src/service/jobs/records.js';
import { detachInlineRows } from '../../src/service/jobs/inline-rows.js';
import type { JobStore } from '../../src/service/jobs/types.js';
import { DEFAULT_TENANT } from '../../src/service/plugins/tenant.js';
import { jobSpecSchema } from '../../src/spec/job-spec.js';

export interface StoredJob {
  spec: object;
  status?: 'succeeded' | 'failed' | 'cancelled';
  losses: number[];
  /** Epochs requested, when not the spec's. */
  epochs?: number;
  checkpoints?: Array<{ epoch: number; kind: 'final' | 'periodic' }>;
}

export async function storeJob(store: JobStore, { spec, status = 'succeeded', losses, epochs, checkpoints = [] }: StoredJob): Promise<string> {
  const id = randomUUID();
  const now = new Date().toISOString();
  const parsed = jobSpecSchema.parse(spec);
  const detached = detachInlineRows(parsed);
  const record = newJobRecord({ id, tenant: DEFAULT_TENANT, spec: detached.spec, seed: 0, now });
  if (epochs !== undefined) record.epochs = epochs;
  await store.createJob(record, undefined, detached.rows);
  // Written as the runtime writes: under a claim of the job (other jobs claimed on the way are handed back).
  const others = [];
  let claim = await store.claimNext('stored-job', 3_600_000);
  while (claim && claim.job.id !== id) {
    others.push(claim.fence);
    claim = await store.claimNext('stored-job', 3_600_000);
  }
  for (const other of others) await store.updateRun(other, { status: 'queued' });
  if (!claim) throw new Error(`storeJob: could not claim job ${id}`);
  const fence = claim.fence;
  await store.appendEpochs(fence, losses.map((loss, i) => ({ epoch: i + 1, loss, elapsedMs: i })));
  const { inputDim, outputDim } = parsed.model;
  for (const c of checkpoints) {
    const bytes = serializeSafetensors(
      { weight: { shape: [outputDim, inputDim], data: new Float32Array(outputDim * inputDim).fill(c.epoch) }, bias: { shape: [outputDim], data: new Float32Array(outputDim).fill(0.5) } },
      { format: 'pt' },
    );
    await store.putCheckpoint(fence, { epoch: c.epoch, kind: c.kind, createdAt: now, bytes: bytes.byteLength }, bytes);
  }
  await store.updateRun(fence, { status, epoch: losses.length, lastLoss: losses.at(-1) ?? null, startedAt: now, finishedAt: now });
  return id;
}
