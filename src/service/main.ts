/**
 * The server entry (`npm start` -> scripts/start.mjs -> dist/src/service/main.js): configuration from the
 * environment, the app with the embedded runtime and the hardening plugins, listen, and a draining shutdown on
 * SIGTERM/SIGINT (refuse new jobs, let running ones snapshot and stop within SHUTDOWN_DEADLINE_MS, close streams
 * with their final status, close the server). A second signal exits at once.
 */
import { buildApp, type App } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { registerHardening, serverTimeouts } from './plugins/hardening.js';

function fail(message: string): never {
  process.stderr.write(`gradloom: ${message}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}

let app: App;
try {
  app = await buildApp({ config, logger: true, extend: registerHardening, server: serverTimeouts(config) });
  await app.listen({ port: config.port, host: config.host });
} catch (err) {
  // Configuration problems found while building (API keys, a public HOST without keys, a busy port).
  fail(err instanceof Error ? err.message : String(err));
}

const port = (app.server.address() as { port: number }).port;
const storeName = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `SQLite in ${config.dataDir}`;
app.log.info(
  { store: app.gradloom.store.kind, dataDir: config.databaseUrl ? undefined : config.dataDir, workers: config.workers, limits: config.limits },
  config.role === 'worker'
    ? `gradloom worker node serving on http://${config.host}:${port} (/healthz and /readyz only) on ${storeName}, training up to ${config.limits.maxRunningJobs} jobs at once`
    : `gradloom ${config.role === 'api' ? 'api node ' : ''}serving on http://${config.host}:${port} (docs at /docs) on ${storeName}`,
);

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) {
    app.log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  shuttingDown = true;
  app.log.info({ signal, deadlineMs: config.shutdownDeadlineMs }, 'draining');
  // Last resort if something hangs past the deadline.
  setTimeout(() => {
    app.log.error('shutdown did not finish in time; exiting');
    process.exit(1);
  }, config.shutdownDeadlineMs + 5_000).unref();
  try {
    await app.gradloom.drain();
    await app.close();
    app.log.info('stopped');
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
