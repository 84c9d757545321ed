/**
 * Who is asking. Every route reads `request.tenant` and passes it to the runtime, which scopes every lookup by it.
 * For now there is one tenant, 'default'; API keys (issue 6) replace this plugin, keeping `request.tenant`.
 */
import { globalPlugin } from './global.js';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
}

export const DEFAULT_TENANT = 'default';

export const tenantPlugin = globalPlugin<{ tenant?: string }>('gradloom-tenant', async (app, opts) => {
  const tenant = opts.tenant ?? DEFAULT_TENANT;
  if (!app.hasRequestDecorator('tenant')) app.decorateRequest('tenant', tenant);
  app.addHook('onRequest', async (request) => {
    request.tenant = tenant;
  });
});
