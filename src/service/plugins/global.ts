import type { FastifyPluginAsync } from 'fastify';

/**
 * Marks a plugin as not encapsulated, so its decorators and hooks apply to the whole app (what fastify-plugin does;
 * fastify documents the `skip-override` symbol, which spares us a dependency we do not declare).
 */
export function globalPlugin<T extends Record<string, unknown>>(name: string, plugin: FastifyPluginAsync<T>) {
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: name });
  return plugin;
}
