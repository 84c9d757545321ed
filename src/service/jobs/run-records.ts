/**
 * What a run reads from and writes to the store besides its status: the inputs its worker needs, and what the worker
 * posts (epochs, checkpoints, resume snapshots, the split, the final checkpoint), recorded under the claim's fence.
 */
import type { TrainingData, WorkerMessage } from '../../training/protocol.js';
import { checkDatasetFits } from '../../training/validate.js';
import type { EventBus } from './bus.js';
import { InvalidInputError, StorageQuotaError } from './errors.js';
import { toTrainingData } from './inline-rows.js';
import type { Run } from './run.js';
import type { JobRecord, JobStore, RowsPart } from './types.js';

export interface RunInputs {
  data?: TrainingData;
  validationData?: TrainingData;
  initialWeights?: Uint8Array;
}

/** How the validation rows were chosen, in words a user can reproduce (see src/training/data.ts splitData). */
function splitRule(spec: JobRecord['spec']): string {
  const v = spec.training.validation;
  if (v?.kind === 'fraction') {
    return (
      `fraction ${v.fraction}: perm = torch.randperm(n, generator=torch.Generator().manual_seed(${spec.seed})); ` +
      `validation rows = sorted(perm[:k]), training rows = sorted(perm[k:]), k = floor(${v.fraction} * n + 0.5)`
    );
  }
  if (v?.kind === 'dataset') return `dataset ${v.id}: all of its rows`;
  return 'inline: the rows given in training.validation';
}

/**
 * What the worker needs beyond the spec, read from the store: the rows it trains or validates on (a dataset's, or
 * the job's own inline rows, kept apart from its record), and a warm start's weights (not when resuming: the resume point has the weights). Something removed since
 * the job was accepted fails it with invalid_data.
 */
export async function resolveRunInputs(store: JobStore, job: JobRecord, resuming: boolean): Promise<RunInputs> {
  const spec = job.spec;
  const rowsOf = async (id: string, role: 'data' | 'validation'): Promise<TrainingData> => {
    const ds = await store.getDataset(job.tenant, id);
    const problem = ds ? checkDatasetFits(spec, ds.record, role) : `${role === 'validation' ? 'validation ' : ''}dataset ${id} no longer exists`;
    if (problem || !ds) throw new InvalidInputError(problem!);
    // Straight from the stored float64 bytes to float32 (unpacking 760k rows into JS arrays first took ~0.8 s).
    return toTrainingData(ds.rows);
  };
  const inlineOf = async (part: RowsPart): Promise<TrainingData> => {
    const stored = await store.getJobRows(job.id, part);
    if (!stored) throw new InvalidInputError(`the job's inline ${part === 'validation' ? 'validation ' : ''}rows are missing from the store`);
    return toTrainingData(stored.rows);
  };
  const inputs: RunInputs = {};
  if (spec.data.kind === 'dataset') inputs.data = await rowsOf(spec.data.id, 'data');
  if (spec.data.kind === 'inline') inputs.data = await inlineOf('data');
  const v = spec.training.validation;
  if (v?.kind === 'dataset') inputs.validationData = await rowsOf(v.id, 'validation');
  if (v?.kind === 'inline') inputs.validationData = await inlineOf('validation');
  const from = job.details?.warmStart;
  if (from && !resuming) {
    const ckpt = await store.getCheckpoint(from.jobId, from.epoch);
    if (!ckpt) throw new InvalidInputError(`warmStart: the checkpoint of job ${from.jobId} at epoch ${from.epoch} no longer exists`);
    inputs.initialWeights = ckpt.safetensors;
  }
  return inputs;
}

/** Records what a worker posts, in the order it posted it (the supervisor serialises the calls per run). */
export class RunRecorder {
  constructor(
    private readonly store: JobStore,
    private readonly bus: EventBus,
    /** Bytes a tenant may store (TENANT_MAX_STORED_BYTES); 0: no limit. Checked before each checkpoint is written. */
    private readonly tenantMaxStoredBytes: number,
  ) {}

  async record(run: Run, m: WorkerMessage): Promise<void> {
    if (run.stopReason === 'lost') return;
    if (run.storeError !== null || run.quotaError !== null) {
      // Stopping after a failed write or at the quota: nothing after it is recorded.
      if (m.type === 'end') run.end = m;
      return;
    }
    const { store, bus } = this;
    const id = run.job.id;
    switch (m.type) {
      case 'epochs': {
        if (m.events.length === 0) return;
        await store.appendEpochs(run.fence, m.events);
        const first = m.events[0]!;
        const last = m.events[m.events.length - 1]!;
        run.job = { ...run.job, epoch: last.epoch, lastLoss: last.loss };
        bus.publish({ kind: 'epochs', jobId: id, from: first.epoch, to: last.epoch, events: m.events });
        return;
      }
      case 'checkpoint':
        await this.checkQuota(run, m.safetensors.byteLength, `the checkpoint at epoch ${m.epoch}`);
        await store.putCheckpoint(
          run.fence,
          { epoch: m.epoch, kind: 'periodic', createdAt: new Date().toISOString(), bytes: m.safetensors.byteLength },
          m.safetensors,
          m.resumeState,
        );
        return;
      case 'resume':
        await store.putResumeState(run.fence, m.epoch, m.safetensors, m.resumeState);
        return;
      case 'started':
        return;
      case 'split':
        run.job = await store.updateRun(run.fence, {
          details: {
            ...run.job.details,
            split: {
              trainRows: m.trainRows,
              validationRows: m.validationRows,
              rule: splitRule(run.job.spec),
            },
          },
        });
        return;
      case 'end':
        run.end = m;
        if (m.outcome === 'succeeded') {
          await this.checkQuota(run, m.safetensors.byteLength, 'the final checkpoint');
          // With early stopping the final weights are the best epoch's, and the checkpoint says so.
          await store.putCheckpoint(
            run.fence,
            { epoch: m.best?.epoch ?? m.epoch, kind: 'final', createdAt: new Date().toISOString(), bytes: m.safetensors.byteLength },
            m.safetensors,
          );
        }
        return;
    }
  }

  /** Throws StorageQuotaError when writing `bytes` more would take the job's tenant past its storage quota. */
  private async checkQuota(run: Run, bytes: number, what: string): Promise<void> {
    const quota = this.tenantMaxStoredBytes;
    if (quota <= 0) return;
    const usage = await this.store.tenantUsage(run.job.tenant);
    if (usage.bytes + bytes > quota) {
      throw new StorageQuotaError(
        `storage_quota_exceeded: ${what} (${bytes} bytes) would take tenant ${run.job.tenant} from ${usage.bytes} to ` +
          `${usage.bytes + bytes} bytes, above the limit of ${quota} (TENANT_MAX_STORED_BYTES); training stopped at ` +
          `epoch ${run.job.epoch}, and the checkpoints written before are kept`,
      );
    }
  }
}
