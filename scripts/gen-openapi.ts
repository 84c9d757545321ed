/**
 * Writes openapi/openapi.json from the app itself (the same zod schemas that validate requests), composed as
 * main.ts composes it, with a fixed configuration so the document does not depend on the environment.
 * `npm run openapi`; test/service/openapi.test.ts fails when the committed file is stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildApp } from '../src/service/app.js';
import { loadSecurityConfig } from '../src/service/auth/security-config.js';
import { KeyRing } from '../src/service/auth/keys.js';
import { loadConfig } from '../src/service/config.js';
import type { JobManager, JobStore } from '../src/service/jobs/types.js';
import { registerHardening } from '../src/service/plugins/hardening.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_PATH = join(root, 'openapi', 'openapi.json');

/**
 * A runtime that is never called: building the document only needs the routes. `given` members are what building
 * the app itself asks for (the stream-token key); `then` stays undefined so the proxy is not taken for a promise.
 */
function unavailable<T extends object>(name: string, given: Record<string, unknown> = {}): T {
  return new Proxy({} as T, {
    get: (_target, prop) =>
      prop === 'then'
        ? undefined
        : typeof prop === 'string' && prop in given
          ? given[prop]
          : () => Promise.reject(new Error(`${name}.${String(prop)} is not available while generating OpenAPI`)),
  });
}

export async function generateOpenApi(): Promise<Record<string, unknown>> {
  const app = await buildApp({
    config: loadConfig({ WORKERS: '1' }),
    manager: unavailable<JobManager>('manager'),
    store: unavailable<JobStore>('store', { sharedSecret: async () => Buffer.alloc(32) }),
    logger: false,
    extend: (a) => registerHardening(a, { security: loadSecurityConfig({}), keys: new KeyRing([]) }),
  });
  try {
    await app.ready();
    return JSON.parse(JSON.stringify(app.swagger())) as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

export function serializeOpenApi(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const document = await generateOpenApi();
  mkdirSync(dirname(OPENAPI_PATH), { recursive: true });
  writeFileSync(OPENAPI_PATH, serializeOpenApi(document));
  console.log(`wrote ${OPENAPI_PATH} (${Object.keys(document.paths as object).length} paths)`);
}
