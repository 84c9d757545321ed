/**
 * A real gradloom server on an ephemeral port: buildApp with the embedded runtime (SQLite store, Piscina pool, real
 * training) and the hardening plugins as main.ts wires them (CSP, auth), listening on 127.0.0.1:0. For the CLI and
 * browser tests, which talk to it over real HTTP and WebSockets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type App } from '../../src/service/app.js';
import { loadSecurityConfig } from '../../src/service/auth/security-config.js';
import { loadConfig } from '../../src/service/config.js';
import { registerHardening } from '../../src/service/plugins/hardening.js';

export interface LiveServer {
  app: App;
  url: string;
  dataDir: string;
  /** Tenant "alice"'s key, when the server was started with one. */
  apiKey: string | undefined;
  /** fetch against the server with the key as Bearer. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

export async function startLiveServer(options: { apiKey?: string; env?: Record<string, string> } = {}): Promise<LiveServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gradloom-live-'));
  const config = loadConfig({ DATA_DIR: dataDir, WORKERS: '1', LOG_LEVEL: 'silent', ...options.env });
  const security = loadSecurityConfig({ API_KEYS: options.apiKey ? `alice:${options.apiKey}` : undefined });
  const app = await buildApp({ config, logger: false, extend: (a) => registerHardening(a, { security }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    url,
    dataDir,
    apiKey: options.apiKey,
    api: (method, path, body) =>
      fetch(url + path, {
        method,
        headers: {
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls GET /v1/jobs/:id until the job reaches a terminal status (or `until` says so). */
export async function waitForJob(
  server: LiveServer,
  id: string,
  until: (job: { status: string; epoch: number }) => boolean = (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status),
  timeoutMs = 60_000,
): Promise<{ status: string; epoch: number; epochs: number; lastLoss: number | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await server.api('GET', `/v1/jobs/${id}`)).json()) as { status: string; epoch: number; epochs: number; lastLoss: number | null };
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} at epoch ${job.epoch} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
