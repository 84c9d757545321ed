/** Builds the app on a fresh data directory with the real SQLite store and, by default, the fake manager. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App, type BuildAppOptions, type ConfigOverrides } from '../../src/service/app.js';
import { loadConfig } from '../../src/service/config.js';
import type { JobManager, JobStore } from '../../src/service/jobs/types.js';
import { createSqliteStore } from '../../src/service/store/sqlite.js';
import { FakeJobManager, type FakeManagerOptions } from './fake-manager.js';

export interface TestApp {
  app: App;
  store: JobStore;
  manager: JobManager;
  dataDir: string;
  close(): Promise<void>;
}

export async function makeTestApp(
  options: {
    overrides?: ConfigOverrides;
    fake?: Omit<FakeManagerOptions, 'store'>;
    manager?: (store: JobStore, dataDir: string) => JobManager;
    extend?: BuildAppOptions['extend'];
  } = {},
): Promise<TestApp & { fake: FakeJobManager | null }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-api-'));
  const store = createSqliteStore({ dataDir });
  const fake = options.manager ? null : new FakeJobManager({ store, ...options.fake });
  const manager = options.manager ? options.manager(store, dataDir) : fake!;
  await manager.start();
  const app = await buildApp({
    config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2' }),
    overrides: options.overrides,
    manager,
    store,
    logger: false,
    extend: options.extend,
  });
  await app.ready();
  return {
    app,
    store,
    manager,
    fake,
    dataDir,
    async close() {
      await manager.stop({ deadlineMs: 2000 });
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const regressionSpec = {
  name: 'regression',
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: {
    kind: 'inline',
    x: [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167], [7.042], [10.791], [5.313], [7.997], [3.1]],
    y: [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221], [2.827], [3.465], [1.65], [2.904], [1.3]],
  },
  training: { epochs: 60, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.001 } },
  seed: 0,
} as const;

export const twoLayerSpec = {
  name: 'two-layer',
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs: 500, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
} as const;
