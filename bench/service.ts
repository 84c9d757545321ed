/**
 * The service cases of `npm run bench`: a real server (buildApp from src/service/app.ts, its own SQLite store and
 * worker pool, on a temporary DATA_DIR) driven only through its HTTP API and WebSocket stream, as a client would.
 *
 * - service_job_latency: POST the tutorial's two-layer job (500 epochs), open its stream, stop the clock at the final
 *   status message; one job at a time, median of 8.
 * - service_burst: 20 such jobs POSTed at once on 2 workers; jobs/s from the first POST until every stream has said
 *   succeeded.
 *
 * Each is printed with its engine-only bound, measured in this run in a fresh worker thread with the kernel and the
 * heap limits (resourceLimits) the service's workers use (bench/bound-worker.ts): the job's engine time is 500 × the tutorial step's ms (median of
 * 500-step runs before and after, wall time, as the service's clock is wall time); the burst bound is workers / that
 * job time. A second bound runs the same job spec through the training layer (src/training/loop.ts with a no-op
 * post): the epoch loop, its model and data set-up and the final model serialisation, without the service's thread
 * hand-offs, store or network. The burst also gets a concurrent bound: the same jobs engine-only on `workers`
 * threads at once (efficiencyVsConcurrentEngine), because on some machines two training threads slow each other
 * (shared L3 and memory bandwidth, busy neighbours) and workers / one job's time is then out of anyone's reach.
 * Where the rest goes: from the job record (createdAt/startedAt/finishedAt, ms resolution) and the client's clock,
 * each job's time splits into POST → created, created → started (queue and hand-off to a worker), started → finished
 * (the worker: training, per-epoch messages, store writes of the epochs), finished → final message at the client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { buildApp, type App } from '../src/service/app.js';
import { loadConfig, type WorkerResourceLimits } from '../src/service/config.js';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** The tutorial's two-layer program as a job (the spec test/helpers/app.ts calls twoLayerSpec). */
export const TUTORIAL_JOB = {
  name: 'bench-two-layer',
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
} as const;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, d = 3) => +x.toFixed(d);
/** The V8 flags this process runs with (npm run bench:service passes the server's, src/service/node-flags.ts). */
const nodeFlags = () => process.execArgv.filter((f) => f !== '--expose-gc');

interface JobTiming {
  /** Client clock (performance.now()): POST sent, final status message received. */
  sentAt: number;
  doneAt: number;
  status: string;
  epochMessages: number;
  /** Client clock when the first epoch message arrived. */
  firstEpochAt: number | null;
  id: string;
}

/** POSTs one job, follows its stream to the final status message. */
async function runJob(base: string, host: string, spec: object): Promise<JobTiming> {
  const sentAt = performance.now();
  const res = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  if (res.status !== 201) throw new Error(`POST /v1/jobs: HTTP ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  return new Promise<JobTiming>((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}/v1/jobs/${id}/stream`);
    let epochMessages = 0;
    let firstEpochAt: number | null = null;
    let settled = false;
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; status?: string };
      if (m.type === 'epoch') {
        epochMessages++;
        firstEpochAt ??= performance.now();
      } else if (m.type === 'status' && !settled) {
        settled = true;
        resolve({ sentAt, doneAt: performance.now(), status: m.status ?? '?', epochMessages, firstEpochAt, id });
        ws.close();
      }
    });
    ws.on('error', (e) => {
      if (!settled) reject(e);
    });
    ws.on('close', () => {
      if (!settled) reject(new Error(`stream of ${id} closed before its final status`));
    });
  });
}

interface JobRecordTimes {
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

async function record(base: string, id: string): Promise<JobRecordTimes> {
  const res = await fetch(`${base}/v1/jobs/${id}`);
  return (await res.json()) as JobRecordTimes;
}

/**
 * Engine-only bounds, measured in a fresh worker thread (bench/bound-worker.ts) on the workers' kernel, with the
 * service's worker heap limits (resourceLimits): V8 sizes its heap growth from the old-generation limit, and with
 * 512 MB it collects the old generation far more often under a training job's ArrayBuffer churn than with its own
 * (4 GB) default, so a bound thread without the limits is not the same machine.
 */
class Bounds {
  private pool: Piscina;
  kernel = '';
  constructor(resourceLimits: WorkerResourceLimits, private readonly threads = 1) {
    this.pool = new Piscina({ filename: fileURLToPath(new URL('./bound-worker.js', import.meta.url)), minThreads: threads, maxThreads: threads, resourceLimits });
  }
  async warm(epochs: number): Promise<void> {
    const each = (what: 'step' | 'loop', n: number) =>
      Promise.all(Array.from({ length: this.threads }, () => this.pool.run({ what, epochs: Math.min(epochs, n), spec: TUTORIAL_JOB })));
    await each('step', 100);
    await each('loop', 50);
  }
  /**
   * Jobs per second when `jobs` engine-only jobs (each a fresh `epochs`-step tutorial program) run on all the
   * threads at once: what the machine's cores deliver together, L3, memory bandwidth and neighbours included.
   */
  async concurrentJobsPerSecond(epochs: number, jobs: number): Promise<number> {
    const t = performance.now();
    await Promise.all(Array.from({ length: jobs }, () => this.pool.run({ what: 'step', epochs, spec: TUTORIAL_JOB })));
    return jobs / ((performance.now() - t) / 1000);
  }
  /** Wall ms per tutorial step (each run a fresh `epochs`-step program). */
  async stepMs(epochs: number, runs: number): Promise<number[]> {
    const out: number[] = [];
    for (let r = 0; r < runs; r++) {
      const { ms, kernel } = (await this.pool.run({ what: 'step', epochs, spec: TUTORIAL_JOB })) as { ms: number; kernel: string };
      this.kernel = kernel;
      out.push(ms / epochs);
    }
    return out;
  }
  /** Wall ms of the whole job through the training layer in process. */
  async loopMs(epochs: number, runs: number): Promise<number[]> {
    const out: number[] = [];
    for (let r = 0; r < runs; r++) out.push(((await this.pool.run({ what: 'loop', epochs, spec: TUTORIAL_JOB })) as { ms: number }).ms);
    return out;
  }
  close(): Promise<void> {
    return this.pool.destroy();
  }
}

export interface ServiceBenchOptions {
  quick: boolean;
  emit: (o: Record<string, unknown>) => void;
  workers?: number;
}

export async function serviceCases({ quick, emit, workers = 2 }: ServiceBenchOptions): Promise<void> {
  const epochs = quick ? 50 : 500;
  const spec = { ...TUTORIAL_JOB, training: { ...TUTORIAL_JOB.training, epochs } };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'gradloom-bench-'));
  let app: App | null = null;
  const config = loadConfig({ DATA_DIR: dataDir, WORKERS: String(workers), LOG_LEVEL: 'silent' });
  const bounds = new Bounds(config.workerResourceLimits);
  try {
    await bounds.warm(epochs);
    app = await buildApp({ config, logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no TCP address');
    const host = `127.0.0.1:${address.port}`;
    const base = `http://${host}`;

    // The first job, POSTed as soon as the server listens (its training threads are then still starting and
    // warming up: src/training/warm-up.ts). Reported, not part of the median.
    const first = await runJob(base, host, spec);
    // Warm both workers (JIT, the malloc arena of a thread's first full job) before anything is timed.
    await Promise.all(Array.from({ length: workers }, () => runJob(base, host, spec)));

    // ---- one job at a time ----------------------------------------------------------------------------------------
    const latencyRuns = quick ? 2 : 8;
    const engineRuns = await bounds.stepMs(epochs, quick ? 1 : 3);
    const loopRuns = await bounds.loopMs(epochs, quick ? 1 : 2);
    const jobs: JobTiming[] = [];
    const splits: { post: number; queued: number; worker: number; delivery: number }[] = [];
    for (let i = 0; i < latencyRuns; i++) {
      const j = await runJob(base, host, spec);
      if (j.status !== 'succeeded') throw new Error(`job ${j.id} ended ${j.status}`);
      jobs.push(j);
      // Wall-clock anchors of the record (ms): map the client's performance.now() onto Date.now() for the split.
      const r = await record(base, j.id);
      const offset = Date.now() - performance.now();
      const created = Date.parse(r.createdAt);
      const started = r.startedAt ? Date.parse(r.startedAt) : created;
      const finished = r.finishedAt ? Date.parse(r.finishedAt) : started;
      splits.push({
        post: created - (j.sentAt + offset),
        queued: started - created,
        worker: finished - started,
        delivery: j.doneAt + offset - finished,
      });
    }
    engineRuns.push(...(await bounds.stepMs(epochs, quick ? 1 : 3)));
    const stepMs = median(engineRuns);
    const jobEngineMs = epochs * stepMs;
    loopRuns.push(...(await bounds.loopMs(epochs, quick ? 1 : 2)));
    // Medians, like the engine's bound: on a shared machine a minimum would be biased low.
    const loopMs = median(loopRuns);
    const latencies = jobs.map((j) => j.doneAt - j.sentAt);
    const latency = median(latencies);
    emit({
      case: 'service_job_latency',
      nodeFlags: nodeFlags(),
      job: `tutorial two-layer, ${epochs} epochs, POST -> final stream status`,
      workers,
      runs: latencyRuns,
      medianMs: round(latency, 1),
      allMs: latencies.map((x) => round(x, 1)),
      engineOnlyMs: round(jobEngineMs, 1),
      engineStepMs: round(stepMs, 4),
      trainingLayerInProcessMs: round(loopMs, 1),
      ratio: round(latency / jobEngineMs, 3),
      ratioVsTrainingLayer: round(latency / loopMs, 3),
      goal: 'ratio <= 1.15',
      // Medians over the runs of where each job's time went (ms; record timestamps have ms resolution).
      medianSplitMs: {
        postToCreated: round(median(splits.map((s) => s.post)), 1),
        createdToStarted: round(median(splits.map((s) => s.queued)), 1),
        startedToFinished: round(median(splits.map((s) => s.worker)), 1),
        finishedToFinalMessage: round(median(splits.map((s) => s.delivery)), 1),
      },
      medianFirstEpochMessageMs: round(median(jobs.map((j) => (j.firstEpochAt ?? j.doneAt) - j.sentAt)), 1),
      firstJobAfterListenMs: round(first.doneAt - first.sentAt, 1),
      epochMessagesPerJob: jobs[0].epochMessages,
      engineKernel: bounds.kernel,
    });

    // ---- a burst: 20 jobs at once -------------------------------------------------------------------------------
    const burstJobs = quick ? 4 : 20;
    const burstRuns = quick ? 1 : 3;
    const rates: number[] = [];
    for (let r = 0; r < burstRuns; r++) {
      const t = performance.now();
      const done = await Promise.all(Array.from({ length: burstJobs }, () => runJob(base, host, spec)));
      const seconds = (performance.now() - t) / 1000;
      const failed = done.filter((j) => j.status !== 'succeeded');
      if (failed.length > 0) throw new Error(`burst: ${failed.length} jobs did not succeed (${failed[0].status})`);
      rates.push(burstJobs / seconds);
    }
    const burstStep = median([...engineRuns, ...(await bounds.stepMs(epochs, quick ? 1 : 3))]);
    const bound = workers / ((epochs * burstStep) / 1000);
    // The same jobs engine-only on `workers` threads at once, with no service around them: on a machine whose cores
    // slow each other (shared L3, memory bandwidth, a busy neighbour), this is what the service can approach.
    const concurrent = new Bounds(config.workerResourceLimits, workers);
    let concurrentRate: number;
    try {
      await concurrent.warm(epochs);
      const cr: number[] = [];
      for (let r = 0; r < (quick ? 1 : 3); r++) cr.push(await concurrent.concurrentJobsPerSecond(epochs, quick ? workers : workers * 3));
      concurrentRate = median(cr);
    } finally {
      await concurrent.close();
    }
    const boundLoop = workers / (loopMs / 1000);
    const rate = median(rates);
    emit({
      case: 'service_burst',
      nodeFlags: nodeFlags(),
      jobs: burstJobs,
      workers,
      runs: burstRuns,
      medianJobsPerSecond: round(rate, 2),
      allJobsPerSecond: rates.map((x) => round(x, 2)),
      engineOnlyBoundJobsPerSecond: round(bound, 2),
      trainingLayerBoundJobsPerSecond: round(boundLoop, 2),
      efficiency: round(rate / bound, 3),
      efficiencyVsTrainingLayer: round(rate / boundLoop, 3),
      engineOnlyConcurrentJobsPerSecond: round(concurrentRate, 2),
      efficiencyVsConcurrentEngine: round(rate / concurrentRate, 3),
      engineKernel: bounds.kernel,
      goal: 'efficiency >= 0.85',
      note: 'bound = workers / one job\'s engine time in a fresh worker thread; the concurrent bound runs the jobs engine-only on that many threads at once (cores that slow each other lower it, not the service)',
    });
  } finally {
    await bounds.close();
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
