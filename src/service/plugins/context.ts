/**
 * What routes share: the runtime (behind the seam in jobs/types.ts), the configuration, and the server's state.
 * Decorated once on the root instance so that later plugins (hardening, dashboard) see the same objects.
 */
import type { Config } from '../config.js';
import type { JobManager, JobStore } from '../jobs/types.js';
import { globalPlugin } from './global.js';

export interface ServiceContext {
  config: Config;
  manager: JobManager;
  store: JobStore;
  /** 'draining' after SIGTERM: new jobs are refused, /readyz answers 503. */
  state: 'serving' | 'draining';
  /** Whether the manager has been started (buildApp starts the runtime it owns when the app is ready). */
  runtimeStarted: boolean;
  /** Refuse new jobs and stop the manager within SHUTDOWN_DEADLINE_MS (idempotent). */
  drain(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    gradloom: ServiceContext;
  }
}

export const contextPlugin = globalPlugin<{ context: ServiceContext }>('gradloom-context', async (app, opts) => {
  app.decorate('gradloom', opts.context);
});
