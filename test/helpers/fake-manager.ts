/**
 * A small in-memory JobManager for route tests: it "trains" on timers with a known loss curve (loss = 1/epoch),
 * stores epochs and a final checkpoint in the real JobStore it is given, fans out to subscribers with replay, and
 * predicts y = x·1 summed per output. It implements the seam in src/service/jobs/types.ts, nothing more.
 */
import { randomBytes } from 'node:crypto';
import { serializeSafetensors } from '../../src/engine/safetensorsFormat.js';
import { ConflictError, InvalidInputError, QueueFullError } from '../../src/service/jobs/errors.js';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { detachInlineRows } from '../../src/service/jobs/inline-rows.js';
import { newJobRecord } from '../../src/service/jobs/records.js';
import { isSameSubmission } from '../../src/service/jobs/service.js';
import {
  TERMINAL_STATUSES,
  type EpochEvent,
  type JobManager,
  type JobRecord,
  type Fence,
  type JobStore,
  type ListJobsQuery,
  type RowsPart,
  type StreamMessage,
} from '../../src/service/jobs/types.js';

type Subscriber = Parameters<JobManager['subscribe']>[2];

export interface FakeManagerOptions {
  store: JobStore;
  /** ms between epochs; jobs do not start at all while `paused` is true. */
  epochDelayMs?: number;
  maxQueued?: number;
}

export const fakeLoss = (epoch: number) => 1 / epoch;

export class FakeJobManager implements JobManager {
  paused = false;
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly cancelRequested = new Set<string>();
  private readonly running = new Set<string>();
  private readonly fences = new Map<string, Fence>();
  private stopped = false;

  constructor(private readonly opts: FakeManagerOptions) {}

  async submit(tenant: string, spec: JobSpec, idempotencyKey?: string) {
    const queued = (await this.opts.store.tenantUsage(tenant)).queued;
    if (this.opts.maxQueued !== undefined && queued >= this.opts.maxQueued)
      throw new QueueFullError(`the queue is full (${queued} jobs waiting, MAX_QUEUED_JOBS=${this.opts.maxQueued})`, 3);
    const now = new Date().toISOString();
    const detached = detachInlineRows(spec);
    const record = newJobRecord({ id: `j_${randomBytes(9).toString('base64url')}`, tenant, spec: detached.spec, seed: spec.seed ?? 1234, now });
    const result = await this.opts.store.createJob(record, idempotencyKey, detached.rows);
    if (!result.created && !isSameSubmission(result.job.spec, spec)) {
      throw new ConflictError(`Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for job ${result.job.id} with a different body`, 'idempotency_key_reused', { jobId: result.job.id });
    }
    if (result.created) this.schedule(result.job.id);
    return result;
  }

  get(tenant: string, id: string) {
    return this.opts.store.getJob(tenant, id);
  }
  list(query: ListJobsQuery) {
    return this.opts.store.listJobs(query);
  }
  async metrics(tenant: string, id: string) {
    return (await this.get(tenant, id)) ? this.opts.store.getEpochs(id) : null;
  }
  async rows(tenant: string, id: string, part: RowsPart, offset: number, limit: number) {
    const job = await this.get(tenant, id);
    return job ? { job, page: await this.opts.store.getJobRows(id, part, offset, limit) } : null;
  }
  async cancel(tenant: string, id: string) {
    const result = await this.opts.store.requestCancel(tenant, id, new Date().toISOString());
    if (!result) return null;
    if (result.cancelledNow) this.closeStreams(id, result.job);
    else if (result.job.status === 'running') this.cancelRequested.add(id);
    return result.job;
  }
  async delete(tenant: string, id: string) {
    return this.opts.store.deleteJob(tenant, id);
  }

  async subscribe(tenant: string, id: string, target: Subscriber, fromEpoch = 1) {
    const job = await this.get(tenant, id);
    if (!job) return null;
    // Nothing before fromEpoch, live or replayed (the contract of JobManager.subscribe).
    const subscriber: Subscriber = {
      send: (m) => (m.type === 'epoch' && m.epoch < fromEpoch ? true : target.send(m)),
      close: () => target.close(),
      bufferedAmount: () => target.bufferedAmount(),
    };
    const set = this.subscribers.get(id) ?? new Set();
    this.subscribers.set(id, set);
    set.add(subscriber);
    // Live messages published while replaying would be duplicates or out of order; replay and attach atomically.
    for (const e of await this.opts.store.getEpochs(id, fromEpoch)) subscriber.send({ type: 'epoch', epoch: e.epoch, loss: e.loss });
    const now = await this.get(tenant, id);
    if (now && TERMINAL_STATUSES.includes(now.status)) {
      subscriber.send(statusMessage(now));
      subscriber.close();
      set.delete(subscriber);
    }
    return () => set.delete(subscriber);
  }

  async predict(tenant: string, id: string, x: number[][]) {
    const job = await this.get(tenant, id);
    if (!job) throw new InvalidInputError(`job ${id} not found`);
    if (!(await this.opts.store.getCheckpoint(id))) throw new ConflictError(`job ${id} has no checkpoint yet`);
    const { outputDim } = job.spec.model;
    return x.map((row) => Array.from({ length: outputDim }, () => row.reduce((a, b) => a + b, 0)));
  }

  async start() {
    this.stopped = false;
    for (const job of await this.opts.store.listUnfinishedJobs()) this.schedule(job.id);
  }
  async stop() {
    this.stopped = true;
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Lets paused jobs run. */
  resume() {
    this.paused = false;
    void this.opts.store.listUnfinishedJobs().then((jobs) => jobs.forEach((j) => this.schedule(j.id)));
  }

  private publish(id: string, message: StreamMessage) {
    for (const s of this.subscribers.get(id) ?? []) s.send(message);
  }

  private async finish(id: string, status: 'succeeded' | 'cancelled' | 'failed') {
    const now = new Date().toISOString();
    const job = await this.opts.store.updateRun(this.fences.get(id)!, { status, finishedAt: now });
    this.closeStreams(id, job);
    return job;
  }

  private closeStreams(id: string, job: JobRecord) {
    this.publish(id, statusMessage(job));
    for (const s of this.subscribers.get(id) ?? []) s.close();
    this.subscribers.delete(id);
  }

  private schedule(id: string) {
    if (this.paused || this.stopped || this.running.has(id)) return;
    this.running.add(id);
    setTimeout(() => void this.run(id).finally(() => this.running.delete(id)), 0);
  }

  private async run(id: string) {
    const store = this.opts.store;
    // Like the real manager: the stream carries epochs and one final status, no 'running' status.
    // Like the real supervisor: claim from the queue (the jobs table), then write under the claim's fence.
    const claim = await store.claimNext('fake', 3_600_000);
    if (!claim) return;
    if (claim.job.id !== id) this.schedule(claim.job.id);
    id = claim.job.id;
    const fence = claim.fence;
    this.fences.set(id, fence);
    let job = claim.job;
    const started = Date.now();
    for (let epoch = job.epoch + 1; epoch <= job.epochs; epoch++) {
      if (this.opts.epochDelayMs) await new Promise((r) => setTimeout(r, this.opts.epochDelayMs));
      else await new Promise((r) => setImmediate(r));
      if (this.stopped) return;
      if (this.cancelRequested.delete(id)) {
        await this.finish(id, 'cancelled');
        return;
      }
      const event: EpochEvent = { epoch, loss: fakeLoss(epoch), elapsedMs: Date.now() - started };
      await store.appendEpochs(fence, [event]);
      job = { ...job, epoch, lastLoss: event.loss };
      this.publish(id, { type: 'epoch', epoch, loss: event.loss });
      if (job.spec.checkpointEvery && epoch % job.spec.checkpointEvery === 0 && epoch < job.epochs)
        await this.checkpoint(job, epoch, 'periodic');
    }
    await this.checkpoint(job, job.epochs, 'final');
    await this.finish(id, 'succeeded');
  }

  private async checkpoint(job: JobRecord, epoch: number, kind: 'final' | 'periodic') {
    const { model } = job.spec;
    const tensors: Record<string, { shape: number[]; data: Float32Array }> =
      model.kind === 'linear_regression'
        ? {
            weight: { shape: [model.outputDim, model.inputDim], data: new Float32Array(model.outputDim * model.inputDim).fill(epoch) },
            bias: { shape: [model.outputDim], data: new Float32Array(model.outputDim).fill(0.5) },
          }
        : {
            '0.weight': { shape: [model.hiddenDim, model.inputDim], data: new Float32Array(model.hiddenDim * model.inputDim).fill(epoch) },
            '2.weight': { shape: [model.outputDim, model.hiddenDim], data: new Float32Array(model.outputDim * model.hiddenDim).fill(1) },
          };
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    await this.opts.store.putCheckpoint(this.fences.get(job.id)!, { epoch, kind, createdAt: new Date().toISOString(), bytes: bytes.byteLength }, bytes);
  }
}

function statusMessage(job: JobRecord): StreamMessage {
  return { type: 'status', status: job.status, epoch: job.epoch, epochs: job.epochs, lastLoss: job.lastLoss, error: job.error };
}
