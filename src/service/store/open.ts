/**
 * The store (and the bus between nodes) a configuration asks for: PostgreSQL with LISTEN/NOTIFY when DATABASE_URL
 * is set, else the embedded SQLite file in DATA_DIR, owned by this process alone (datadir-lock.ts).
 */
import { mkdirSync } from 'node:fs';
import type { Config } from '../config.js';
import type { EventBus } from '../jobs/bus.js';
import type { JobStore } from '../jobs/types.js';
import { acquireDataDirLock } from './datadir-lock.js';
import { createSqliteStore } from './sqlite.js';

export interface OpenedStore {
  store: JobStore;
  /** Absent: the runtime's in-process bus (one node). */
  bus?: EventBus;
  /** Closes the store, the bus and releases the data directory. */
  close(): Promise<void>;
}

export async function openStore(config: Config, nodeId: string, onBusError: (err: object) => void): Promise<OpenedStore> {
  if (config.databaseUrl) {
    const { createPostgresStore } = await import('./postgres.js');
    const { createPgBus } = await import('./pg-bus.js');
    const logger = { warn: (obj: object) => onBusError(obj) };
    const store = await createPostgresStore({ connectionString: config.databaseUrl, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}), logger });
    try {
      const bus = await createPgBus({ pool: store.pool, listenConfig: store.clientConfig, nodeId, logger });
      return {
        store,
        bus,
        async close() {
          await bus.close();
          await store.close();
        },
      };
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  mkdirSync(config.dataDir, { recursive: true });
  const lock = acquireDataDirLock(config.dataDir);
  try {
    const store = createSqliteStore({ dataDir: config.dataDir });
    return {
      store,
      async close() {
        await store.close();
        lock.release();
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}
