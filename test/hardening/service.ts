/**
 * The app as main.ts assembles it (buildApp + registerHardening through `extend`) on a fresh data directory,
 * with the environment given (API_KEYS, quotas...), and either the fake manager or a real one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RouteOptions } from 'fastify';
import { buildApp, type App } from '../../src/service/app.js';
import { loadConfig, type Config } from '../../src/service/config.js';
import type { JobManager, JobStore } from '../../src/service/jobs/types.js';
import { createJobManager } from '../../src/service/jobs/manager.js';
import { registerHardening } from '../../src/service/plugins/hardening.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { FakeJobManager } from '../helpers/fake-manager.js';

export const ALICE_KEY = 'alice-key-0123456789abcdef';
export const BOB_KEY = 'bob-key-0123456789abcdefgh';
export const TWO_TENANTS = `alice:${ALICE_KEY},bob:${BOB_KEY}`;

export interface HardenedApp {
  app: App;
  store: JobStore;
  manager: JobManager;
  config: Config;
  dataDir: string;
  /** Every route as registered: method and URL pattern. */
  routes: { method: string; url: string; websocket: boolean }[];
  close(): Promise<void>;
}

export async function makeHardenedApp(
  options: {
    env?: Record<string, string>;
    manager?: (store: JobStore, config: Config) => JobManager;
    logger?: boolean;
  } = {},
): Promise<HardenedApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-hard-'));
  const config = loadConfig({ DATA_DIR: dataDir, WORKERS: '1', ...options.env });
  const store = createSqliteStore({ dataDir });
  const manager = options.manager ? options.manager(store, config) : new FakeJobManager({ store });
  await manager.start();
  const routes: HardenedApp['routes'] = [];
  const app = await buildApp({
    config,
    manager,
    store,
    logger: options.logger ?? false,
    extend: async (a) => {
      a.addHook('onRoute', (r: RouteOptions & { websocket?: boolean }) => {
        for (const method of [r.method].flat()) routes.push({ method, url: r.url, websocket: r.websocket === true });
      });
      await registerHardening(a);
    },
  });
  await app.ready();
  return {
    app,
    store,
    manager,
    config,
    dataDir,
    routes,
    async close() {
      await manager.stop({ deadlineMs: 2000 });
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const silent = { info() {}, warn() {}, error() {}, debug() {} };

/** The real runtime (Piscina running dist/workers; `npm test` builds first), configured from `config`. */
export function realManager(workers = 1, workerScript?: string) {
  return (store: JobStore, config: Config): JobManager =>
    createJobManager({
      store,
      logger: silent,
      workers,
      maxQueued: config.limits.maxQueuedJobs,
      streamBufferMessages: config.limits.streamBufferMessages,
      jobTimeoutMs: config.limits.jobTimeoutMs,
      cancelGraceMs: 300,
      ...(workerScript ? { workerScript } : {}),
    });
}

export const auth = (key: string) => ({ authorization: `Bearer ${key}` });

/** Polls a job until it reaches a terminal status (or `until` says so). */
export async function waitForJob(
  app: App,
  key: string,
  id: string,
  until: (job: { status: string; epoch: number }) => boolean = (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status),
  timeoutMs = 60_000,
): Promise<Record<string, unknown> & { status: string; epoch: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: auth(key) });
    if (res.statusCode !== 200) throw new Error(`GET /v1/jobs/${id}: ${res.statusCode} ${res.body}`);
    const job = res.json();
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} at epoch ${job.epoch}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
