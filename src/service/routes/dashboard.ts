/**
 * The dashboard: hand-written ES modules in public/ served as they are at `/` (no build step, no build server),
 * and uPlot's distribution files served from node_modules at /vendor/uplot/ (so an `npm ci` is all it needs).
 * Nothing here carries tenant data; the pages call the /v1 API with the user's key.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The package root, found from this file whether it runs from src/ (tsx, vitest) or dist/src/ (node). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'public'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package root with a public/ folder above ${from}`);
    dir = parent;
  }
  return dir;
}

export function uplotDist(): string {
  return dirname(createRequire(import.meta.url).resolve('uplot'));
}

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: join(packageRoot(), 'public'),
    prefix: '/',
    index: 'index.html',
    // Small files that change with each release: revalidate rather than cache for a long time.
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
  });
  await app.register(fastifyStatic, {
    root: uplotDist(),
    prefix: '/vendor/uplot/',
    decorateReply: false,
    maxAge: '1h',
    allowedPath: (path) => /^\/uPlot\.(esm\.js|min\.css)$/.test(path),
    schemaHide: true,
  });
}
