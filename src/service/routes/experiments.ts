/** Routes for working with several runs: reproduce a job in PyTorch, compare jobs (JSON and SVG). */
import type { FastifyPluginAsync } from 'fastify';
import { compareRoutes } from './compare.js';
import { reproduceRoutes } from './reproduce.js';

export const experimentRoutes: FastifyPluginAsync = async (app) => {
  await app.register(compareRoutes);
  await app.register(reproduceRoutes);
};
