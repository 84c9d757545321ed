/**
 * The run supervisor of a worker node: claims jobs from the queue (the jobs table, see JobQueue in types.ts) while it
 * has free training threads, runs each on the pool, records what the worker posts (every write fenced by the claim),
 * and settles the job's final state.
 *
 * A claim is a lease renewed every leaseMs/3. Stop reasons for a running job:
 * - cancel: the store's cancel flag, seen on a 'control' event or a renewal; the control word asks the worker to stop
 *   after the current epoch; if it has not after `cancelGraceMs`, its thread is terminated. The job ends 'cancelled'
 *   and its newest resume point is kept as a periodic checkpoint (a cancelled job keeps the weights it reached).
 * - timeout (`jobTimeoutMs` of wall clock of one run): same mechanism, the job fails with code 'timeout'.
 * - drain (stop()): the worker snapshots and stops; the job is handed back ('queued') for any worker to resume.
 * - lost: the claim no longer holds (the job was deleted, or this node was paused or cut off past its lease and the
 *   job was claimed again): the run stops and writes nothing more; the new owner, if any, carries on.
 * - store_error: a write failed; recording anything after it would leave a hole, so the job stops and fails.
 * - crash (the worker throws, exits or dies): only that job fails, code 'worker_crashed'.
 *
 * Resume: a claimed job resumes from its newest resume point (checkpointEvery checkpoint or crash-recovery snapshot),
 * bit for bit: the snapshot holds weights, optimizer and generator state and the epoch; data is rebuilt from the seed.
 */
import { MessageChannel } from 'node:worker_threads';
import { Control, type TrainTask, type WorkerMessage } from '../../training/protocol.js';
import type { WorkerPool } from '../pool/pool.js';
import type { EventBus } from './bus.js';
import { InvalidInputError, LeaseLostError, StorageQuotaError } from './errors.js';
import { statusMessage } from './feed.js';
import { STOP_RANK, type Run, type StopReason } from './run.js';
import { resolveRunInputs, RunRecorder, type RunInputs } from './run-records.js';
import type { Fence, JobError, JobRecord, JobStore, RunPatch } from './types.js';

/** The subset of pino the runtime uses (pino.Logger satisfies it). */
export interface RuntimeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface SupervisorOptions {
  store: JobStore;
  bus: EventBus;
  logger: RuntimeLogger;
  pool: () => WorkerPool;
  /** This node's id: the owner named in its leases. */
  nodeId: string;
  /** Training threads (jobs running at once on this node). */
  workers: number;
  /** A claim's lease; renewed every leaseMs/3. A node that stops renewing loses its jobs after this long. */
  leaseMs: number;
  /** Idle nodes look for claimable jobs this often even without a notification (expired leases, lost events). */
  pollMs: number;
  jobTimeoutMs: number;
  cancelGraceMs: number;
  resumeSnapshotMs: number;
  flushMs: number;
  /** Bytes a tenant may store (TENANT_MAX_STORED_BYTES); 0: no limit. Checked before each checkpoint is written. */
  tenantMaxStoredBytes?: number;
}



export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class RunSupervisor {
  private readonly running = new Map<string, Run>();
  private started = false;
  private stopping = false;
  private pumping = false;
  private pumpAgain = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped: Promise<void> | null = null;

  private readonly recorder: RunRecorder;

  constructor(private readonly opts: SupervisorOptions) {
    this.recorder = new RunRecorder(opts.store, opts.bus, opts.tenantMaxStoredBytes ?? 0);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.opts.bus.subscribe((e) => {
      if (e.kind === 'jobs') this.pump();
      else if (e.kind === 'control') {
        const run = this.running.get(e.jobId);
        if (run) void this.checkLease(run);
      }
    });
    this.pollTimer = setInterval(() => this.pump(), this.opts.pollMs);
    this.pollTimer.unref();
    this.pump();
  }

  /** Running jobs on this node (for Retry-After estimates and /readyz). */
  runs(): { job: JobRecord; launchedAt: number; firstEpoch: number }[] {
    return [...this.running.values()];
  }

  get capacity(): number {
    return this.opts.workers;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  get isStarted(): boolean {
    return this.started;
  }

  // ---------------------------------------------------------------- claiming

  /** Claims jobs while threads are free. Re-entrant calls coalesce into one more round. */
  pump(): void {
    if (!this.started || this.stopping) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (!this.stopping && this.running.size < this.opts.workers) {
            const claim = await this.opts.store.claimNext(this.opts.nodeId, this.opts.leaseMs);
            if (!claim) break;
            if (this.stopping) {
              // Claimed while stop() began: hand it straight back.
              await this.opts.store.updateRun(claim.fence, { status: 'queued' }).catch(() => {});
              this.opts.bus.publish({ kind: 'jobs' });
              break;
            }
            this.launch(claim.job, claim.fence);
          }
        } while (this.pumpAgain && !this.stopping);
      } catch (err) {
        this.opts.logger.warn({ err }, 'could not claim jobs; retrying on the next poll');
      } finally {
        this.pumping = false;
      }
    })();
  }

  // ---------------------------------------------------------------- one run

  private launch(job: JobRecord, fence: Fence): void {
    let resolveDone!: () => void;
    const run: Run = {
      job,
      fence,
      control: new Int32Array(new SharedArrayBuffer(4)),
      abort: new AbortController(),
      stopReason: null,
      graceTimer: null,
      heartbeat: null,
      end: null,
      chain: Promise.resolve(),
      done: new Promise<void>((r) => (resolveDone = r)),
      launchedAt: Date.now(),
      firstEpoch: job.epoch,
      storeError: null,
      quotaError: null,
    };
    this.running.set(job.id, run);
    run.heartbeat = setInterval(() => void this.checkLease(run), Math.max(50, Math.floor(this.opts.leaseMs / 3)));
    run.heartbeat.unref();
    this.execute(run)
      .catch(async (err) => {
        if (err instanceof LeaseLostError || run.stopReason === 'lost') return this.onLost(run);
        this.opts.logger.error({ jobId: job.id, err }, 'job runtime error');
        // Never leave a job 'running' with nothing running it.
        try {
          if (run.stopReason !== 'drain') {
            await this.finish(run, 'failed', { code: 'internal', message: `internal error: ${errorText(err)}` });
          }
        } catch {
          // The store itself is failing: the lease runs out and another claim resumes or fails the job.
        }
      })
      .finally(() => {
        if (run.graceTimer) clearTimeout(run.graceTimer);
        if (run.heartbeat) clearInterval(run.heartbeat);
        this.running.delete(job.id);
        resolveDone();
        this.pump();
      });
  }

  /** Renew the lease; learn about a cancel request or a lost claim. */
  private async checkLease(run: Run): Promise<void> {
    try {
      const state = await this.opts.store.renewLease(run.fence, this.opts.leaseMs);
      if (!state.held) this.requestStop(run, 'lost');
      else if (state.cancelRequested) this.requestStop(run, 'cancel');
    } catch (err) {
      // The store is unreachable: training goes on; its writes fail (store_error) or the lease runs out.
      this.opts.logger.warn({ jobId: run.job.id, err }, 'lease renewal failed');
    }
  }

  private async execute(run: Run): Promise<void> {
    const { store } = this.opts;
    const id = run.job.id;
    const resume = await store.getResumeState(id);
    const spec = run.job.spec;
    let inputs: RunInputs;
    try {
      inputs = await resolveRunInputs(store, run.job, resume !== null);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      await this.finish(run, 'failed', { code: 'invalid_data', message: err.message });
      return;
    }
    const { data, validationData, initialWeights } = inputs;
    const resumeEpoch = resume?.epoch ?? 0;
    run.firstEpoch = resumeEpoch;
    const resumeLoss = resumeEpoch > 0 ? ((await store.getEpochs(id, resumeEpoch, 1))[0]?.loss ?? null) : null;
    run.job = await store.updateRun(run.fence, { epoch: resumeEpoch, lastLoss: resumeLoss, error: null });
    if (run.stopReason === 'cancel' || run.stopReason === 'lost') {
      // Stopped while we were reading the store: never start the worker.
      if (run.stopReason === 'cancel') await this.finish(run, 'cancelled', null);
      else this.onLost(run);
      return;
    }
    this.opts.logger.info(
      { jobId: id, attempt: run.fence.attempt, ...(resume ? { epoch: resume.epoch } : {}) },
      resume ? 'job resuming from snapshot' : 'job started',
    );

    const { port1, port2 } = new MessageChannel();
    let endReceived!: () => void;
    const ended = new Promise<void>((r) => (endReceived = r));
    let timeout = setTimeout(() => this.requestStop(run, 'timeout'), this.opts.jobTimeoutMs);
    port1.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') {
        // The limit is on training, not on a thread's start-up (slow on a loaded machine): restart the clock.
        clearTimeout(timeout);
        timeout = setTimeout(() => this.requestStop(run, 'timeout'), this.opts.jobTimeoutMs);
        return;
      }
      run.chain = run.chain.then(() => this.recorder.record(run, m)).catch((err) => this.onWriteError(run, m, err));
      if (m.type === 'end') endReceived();
    });
    const task: TrainTask = {
      jobId: id,
      spec,
      data,
      validationData,
      initialWeights,
      resume: resume ?? undefined,
      port: port2,
      control: run.control.buffer as SharedArrayBuffer,
      startedAtMs: Date.parse(run.job.startedAt ?? new Date().toISOString()),
      flushMs: this.opts.flushMs,
      resumeSnapshotMs: this.opts.resumeSnapshotMs,
    };
    let failure: unknown = null;
    try {
      await this.opts.pool().runTrain(task, run.abort.signal);
      // The result and the port are different channels: the end message may still be in flight.
      await Promise.race([ended, new Promise((r) => setTimeout(r, 30_000).unref())]);
    } catch (err) {
      failure = err;
      // Let messages the worker posted before dying arrive and be recorded.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      clearTimeout(timeout);
    }
    await run.chain;
    port1.close();
    await this.settle(run, failure);
  }

  /**
   * A fenced write failed. A lost claim stops the run silently; any other failure would leave a hole in the job's
   * history if anything after it were recorded, so the job stops at once and fails with `store_error`.
   */
  private onWriteError(run: Run, m: WorkerMessage, err: unknown): void {
    if (err instanceof LeaseLostError) {
      this.requestStop(run, 'lost');
      return;
    }
    if (err instanceof StorageQuotaError) {
      run.quotaError ??= err.message;
      this.requestStop(run, 'quota');
      return;
    }
    if (run.storeError !== null) return;
    const what =
      m.type === 'epochs'
        ? `epochs ${m.events[0]?.epoch}-${m.events.at(-1)?.epoch}`
        : m.type === 'end'
          ? 'the final checkpoint'
          : m.type === 'checkpoint'
            ? `the checkpoint at epoch ${m.epoch}`
            : m.type === 'resume'
              ? `the resume snapshot at epoch ${m.epoch}`
              : 'a worker message';
    run.storeError = `could not record ${what}: ${errorText(err)}`;
    this.opts.logger.error({ jobId: run.job.id, err }, 'store write failed during training; stopping the job');
    this.requestStop(run, 'store_error');
  }

  /** Decide the job's final state from how the worker ended (or failed) and why it was asked to stop. */
  private async settle(run: Run, failure: unknown): Promise<void> {
    const reason = run.stopReason;
    if (reason === 'lost') return this.onLost(run);
    if (run.storeError !== null) return this.finishStoreError(run);
    if (run.quotaError !== null) return this.finish(run, 'failed', { code: 'storage_quota_exceeded', message: run.quotaError });
    const end = run.end;
    if (end) {
      switch (end.outcome) {
        case 'succeeded':
          return this.finish(run, 'succeeded', null);
        case 'diverged':
          return this.finish(run, 'failed', { code: 'diverged', message: end.message });
        case 'invalid_data':
          return this.finish(run, 'failed', { code: 'invalid_data', message: end.message });
        case 'interrupted':
          return this.handBack(run);
        case 'cancelled':
          return reason === 'timeout' ? this.finishTimeout(run) : this.finishCancelled(run);
      }
    }
    if (reason === 'drain') return this.handBack(run);
    if (reason === 'cancel') return this.finishCancelled(run);
    if (reason === 'timeout') return this.finishTimeout(run);
    const message = failure === null ? 'the worker returned without a result' : errorText(failure);
    this.opts.logger.warn({ jobId: run.job.id, err: failure }, 'training worker crashed');
    return this.finish(run, 'failed', { code: 'worker_crashed', message: `worker_crashed: ${message}` });
  }

  private onLost(run: Run): void {
    this.opts.logger.warn(
      { jobId: run.job.id, attempt: run.fence.attempt, epoch: run.job.epoch },
      'claim lost (job deleted, or claimed again after this node missed its lease); stopped without writing',
    );
  }

  private finishTimeout(run: Run): Promise<void> {
    return this.finish(run, 'failed', {
      code: 'timeout',
      message: `the job exceeded its wall-clock limit of ${this.opts.jobTimeoutMs} ms at epoch ${run.job.epoch}`,
    });
  }

  /** A cancelled job keeps the weights it reached: its newest resume point becomes a periodic checkpoint. */
  private async finishCancelled(run: Run): Promise<void> {
    const { store } = this.opts;
    const resume = await store.getResumeState(run.job.id);
    if (resume && resume.epoch > 0) {
      const existing = await store.listCheckpoints(run.job.id);
      if (!existing.some((c) => c.epoch === resume.epoch)) {
        await store.putCheckpoint(
          run.fence,
          { epoch: resume.epoch, kind: 'periodic', createdAt: new Date().toISOString(), bytes: resume.safetensors.byteLength },
          resume.safetensors,
        );
      }
    }
    return this.finish(run, 'cancelled', null);
  }

  /**
   * The job fails with `store_error`. The store may still be failing: the failed state is written as soon as the
   * store takes it (retried with backoff while the claim holds); streams learn it from that write. Until then the
   * store says 'running', and if the lease runs out first another worker resumes the job from its last snapshot.
   */
  private async finishStoreError(run: Run): Promise<void> {
    const message =
      `store_error: ${run.storeError}; training was stopped so the job's history has no gaps ` +
      `(epochs 1-${run.job.epoch} are recorded)`;
    const patch: RunPatch = { status: 'failed', error: { code: 'store_error', message }, finishedAt: new Date().toISOString() };
    try {
      await this.write(run, patch);
    } catch (err) {
      if (err instanceof LeaseLostError) return this.onLost(run);
      this.opts.logger.error({ jobId: run.job.id, err }, 'could not record the store_error failure yet; retrying');
      // Streams end with the failure now, not when the store recovers.
      this.opts.bus.publish({ kind: 'status', jobId: run.job.id, final: statusMessage({ ...run.job, ...patch }) });
      this.persistLater(run, patch, 100);
    }
  }

  private persistLater(run: Run, patch: RunPatch, delayMs: number): void {
    setTimeout(() => {
      this.write(run, patch).then(
        () => this.opts.logger.info({ jobId: run.job.id }, 'recorded the store_error failure'),
        (err) => {
          if (!(err instanceof LeaseLostError) && !this.stopping) this.persistLater(run, patch, Math.min(delayMs * 2, 5000));
        },
      );
    }, delayMs).unref();
  }

  /** Drained: the job keeps its progress and goes back to the queue, for any worker to resume at once. */
  private async handBack(run: Run): Promise<void> {
    run.job = await this.opts.store.updateRun(run.fence, { status: 'queued' });
    this.opts.bus.publish({ kind: 'jobs' });
    this.opts.logger.info({ jobId: run.job.id, epoch: run.job.epoch }, 'job handed back to the queue; it resumes from its snapshot');
  }

  private async finish(run: Run, status: 'succeeded' | 'failed' | 'cancelled', error: JobError | null): Promise<void> {
    const end = run.end;
    const patch: RunPatch = { status, error, finishedAt: new Date().toISOString() };
    if (end && end.outcome === 'succeeded') {
      patch.epoch = end.epoch;
      patch.lastLoss = end.loss;
      if (end.best || end.stoppedEarly) {
        patch.details = {
          ...run.job.details,
          ...(end.best ? { best: end.best } : {}),
          ...(end.stoppedEarly ? { stoppedEarly: end.stoppedEarly } : {}),
        };
      }
    }
    await this.write(run, patch);
    this.opts.logger.info({ jobId: run.job.id, status, epoch: run.job.epoch, error }, 'job finished');
  }

  /** A status write, then the event that tells streams to read it. */
  private async write(run: Run, patch: RunPatch): Promise<void> {
    run.job = await this.opts.store.updateRun(run.fence, patch);
    this.opts.bus.publish({ kind: 'status', jobId: run.job.id });
  }

  private requestStop(run: Run, reason: StopReason): void {
    if (run.stopReason !== null && STOP_RANK[run.stopReason] >= STOP_RANK[reason]) return;
    const previous = run.stopReason;
    run.stopReason = reason;
    Atomics.store(run.control, 0, reason === 'drain' ? Control.SNAPSHOT_AND_STOP : Control.CANCEL);
    // The drain deadline belongs to stop(); the others get the grace period, then the hard stop.
    if (reason !== 'drain' && (previous === null || previous === 'drain')) {
      run.graceTimer = setTimeout(() => {
        this.opts.logger.warn({ jobId: run.job.id, reason }, 'worker did not stop within the grace period; terminating it');
        run.abort.abort();
      }, reason === 'lost' ? 0 : this.opts.cancelGraceMs);
      run.graceTimer.unref();
    }
  }

  // ---------------------------------------------------------------- shutdown

  /** Stop claiming, ask running jobs to snapshot and stop within the deadline, then terminate what is left. */
  stop(deadlineMs: number, destroyPool: () => Promise<void>): Promise<void> {
    this.stopped ??= this.drain(deadlineMs, destroyPool);
    return this.stopped;
  }

  private async drain(deadlineMs: number, destroyPool: () => Promise<void>): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.unsubscribe?.();
    const runs = [...this.running.values()];
    for (const run of runs) this.requestStop(run, 'drain');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(runs.map((r) => r.done)),
      new Promise<void>((r) => (timer = setTimeout(r, deadlineMs))),
    ]);
    clearTimeout(timer);
    // Past the deadline: terminate what is left. Those jobs are handed back when their settle runs, or their
    // leases run out; either way they resume from their last snapshot.
    await destroyPool();
    await Promise.all(runs.map((r) => r.done));
  }
}
