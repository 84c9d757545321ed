/**
 * Picks the store and the bus that go together: PostgreSQL and LISTEN/NOTIFY when a database URL is given (many
 * nodes), else the embedded SQLite file in the data directory, owned by this process alone (datadir-lock.ts), and
 * the in-process bus.
 */
import { mkdirSync } from 'node:fs';
import { LocalBus, type EventBus } from '../jobs/bus.js';
import type { JobStore } from '../jobs/types.js';
import { acquireDataDirLock } from './datadir-lock.js';
import { createPgBus } from './pg-bus.js';
import { createPostgresStore, type PgStoreLogger } from './postgres.js';
import { createSqliteStore } from './sqlite.js';

export interface OpenStoreOptions {
  /** DATABASE_URL: PostgreSQL when set. */
  databaseUrl?: string;
  /** The SQLite data directory, when databaseUrl is absent. */
  dataDir: string;
  /** This node's id: PgBus tags its notifications with it to skip its own. */
  nodeId: string;
  /** PostgreSQL schema (tests use one per run); the server's default when absent. */
  schema?: string;
  /** Bus channel (tests use one per run). */
  channel?: string;
  logger?: PgStoreLogger;
}

export interface OpenedStore {
  store: JobStore;
  bus: EventBus;
  /** Closes the bus first (it publishes through the store's pool), then the store, then releases the data directory. */
  close(): Promise<void>;
}

export async function openStore(opts: OpenStoreOptions): Promise<OpenedStore> {
  if (opts.databaseUrl === undefined || opts.databaseUrl === '') {
    mkdirSync(opts.dataDir, { recursive: true });
    const lock = acquireDataDirLock(opts.dataDir);
    try {
      const store = createSqliteStore({ dataDir: opts.dataDir });
      const bus = new LocalBus();
      return {
        store,
        bus,
        async close() {
          await bus.close();
          await store.close();
          lock.release();
        },
      };
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  const store = await createPostgresStore({
    connectionString: opts.databaseUrl,
    ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  try {
    const bus = await createPgBus({
      pool: store.pool,
      listenConfig: store.clientConfig,
      nodeId: opts.nodeId,
      ...(opts.channel !== undefined ? { channel: opts.channel } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    return { store, bus, close: async () => (await bus.close(), await store.close()) };
  } catch (err) {
    await store.close();
    throw err;
  }
}
