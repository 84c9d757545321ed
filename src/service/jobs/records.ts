import type { StoredJobSpec } from '../../spec/job-spec.js';
import type { JobRecord } from './types.js';

/** A freshly submitted job, as it is first stored: queued, nothing trained, the resolved seed in its spec. */
export function newJobRecord(opts: { id: string; tenant: string; spec: Omit<StoredJobSpec, 'seed'>; seed: number; now: string }): JobRecord {
  const { id, tenant, spec, seed, now } = opts;
  return {
    id,
    tenant,
    name: spec.name ?? null,
    status: 'queued',
    spec: { ...spec, seed },
    epoch: 0,
    epochs: spec.training.epochs,
    lastLoss: null,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    error: null,
    version: 1,
    details: null,
  };
}
