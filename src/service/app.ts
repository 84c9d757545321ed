/**
 * The HTTP application: fastify + zod type provider, shared plugins (context, tenant, errors, request ids),
 * OpenAPI (@fastify/swagger from the zod schemas, /openapi.json, /docs), WebSockets, and the routes grouped by
 * resource. `buildApp` does not listen. Tests inject a runtime; main.ts lets buildApp create the embedded one,
 * which then starts with the app and drains when it closes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  createJsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { loadConfig, type Config, type Limits } from './config.js';
import { createJobManager, defaultNodeId } from './jobs/manager.js';
import type { JobManager, JobStore } from './jobs/types.js';
import { openStore } from './store/open.js';
import { RequestLogController, serverLoggerOptions } from './log.js';
import { contextPlugin, type ServiceContext } from './plugins/context.js';
import { jsonBodyPlugin } from './body/json-body.js';
import { errorsPlugin } from './plugins/errors.js';
import { tenantPlugin } from './plugins/tenant.js';
import { checkpointRoutes } from './routes/checkpoints.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { datasetRoutes } from './routes/datasets.js';
import { experimentRoutes } from './routes/experiments.js';
import { jobRoutes } from './routes/jobs.js';
import { plotRoutes } from './routes/plots.js';
import { streamRoutes } from './routes/stream.js';
import { systemRoutes } from './routes/system.js';
import { webhookRoutes } from './routes/webhooks.js';

export type ConfigOverrides = Partial<Omit<Config, 'limits'>> & { limits?: Partial<Limits> };

export interface BuildAppOptions {
  /** A complete configuration; loaded from process.env when absent. */
  config?: Config;
  /** Applied over `config` (tests: `{limits: {maxEpochs: 10}}`). */
  overrides?: ConfigOverrides;
  /**
   * The runtime behind the seam. Injected ones are the caller's to start and stop. When both are absent, buildApp
   * creates the embedded runtime (SQLite in config.dataDir, the Piscina pool) and owns it: the manager starts when
   * the app is ready, and `app.close()` drains it (within SHUTDOWN_DEADLINE_MS) and closes the store.
   */
  manager?: JobManager;
  store?: JobStore;
  /** Fastify server options from other configuration (request/connection timeouts). */
  server?: Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout'>;
  /** false (silent), true (pino at config.logLevel), pino options, or a pino instance. */
  logger?: boolean | FastifyServerOptions['logger'] | FastifyBaseLogger;
  /**
   * Registered after the shared plugins and before the routes: authentication (which sets `request.tenant` after
   * the placeholder tenant plugin), rate limits and quotas, static files. `app.gradloom` is available.
   */
  extend?: (app: App) => Promise<void>;
}

export type App = FastifyInstance & { gradloom: ServiceContext };

export const API_VERSION = '1.0.0';
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honour a sane `x-request-id` from a proxy; otherwise make one. */
export function genReqId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID_RE.test(header) ? header : `req_${randomUUID()}`;
}

export function resolveConfig(config: Config | undefined, overrides: ConfigOverrides | undefined): Config {
  const base = config ?? loadConfig();
  return { ...base, ...overrides, limits: { ...base.limits, ...overrides?.limits } };
}

function isLoggerInstance(logger: unknown): logger is FastifyBaseLogger {
  return typeof logger === 'object' && logger !== null && typeof (logger as FastifyBaseLogger).child === 'function';
}

type OpenApiDocument = {
  paths?: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> }; security?: unknown }>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
};

/** Component schemas reachable from the paths; the zod registry also yields input/output twins nobody uses. */
function pruneUnusedSchemas(document: OpenApiDocument): void {
  const schemas = document.components?.schemas;
  if (!schemas) return;
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
        const name = value.slice('#/components/schemas/'.length);
        if (!used.has(name)) {
          used.add(name);
          visit(schemas[name]);
        }
      } else visit(value);
    }
  };
  visit(document.paths);
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
}

/**
 * What zod cannot express: the CSV alternative of POST /v1/datasets, and the bearer scheme of /v1 (enforced when
 * the server has API keys, see the hardening plugins).
 */
const transformObject: typeof jsonSchemaTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as OpenApiDocument;
  const upload = document.paths?.['/v1/datasets']?.post?.requestBody?.content;
  if (upload) {
    upload['text/csv'] = {
      schema: { type: 'string', description: 'A header row, then one row of numbers per sample' },
      example: 'x,y\n3.3,1.7\n4.4,2.76\n5.5,2.09\n',
    };
  }
  document.components = {
    ...document.components,
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (API_KEYS); not needed when the server has none' },
    },
  };
  for (const [path, operations] of Object.entries(document.paths ?? {}))
    if (path.startsWith('/v1/')) for (const operation of Object.values(operations)) operation.security = [{ bearerAuth: [] }];
  pruneUnusedSchemas(document);
  return document as ReturnType<typeof jsonSchemaTransformObject>;
};

export async function buildApp(options: BuildAppOptions): Promise<App> {
  const config = resolveConfig(options.config, options.overrides);
  const role = config.role ?? 'all';
  const nodeId = config.nodeId ?? defaultNodeId();
  const loggerOption = options.logger ?? false;
  const app = Fastify({
    ...(isLoggerInstance(loggerOption)
      ? { loggerInstance: loggerOption }
      : {
          logger:
            loggerOption === true
              ? {
                  ...serverLoggerOptions(config),
                  // Every line names the node and its role: a deployment's logs are read together.
                  base: { pid: process.pid, node: nodeId, role },
                }
              : (loggerOption as FastifyServerOptions['logger']),
        }),
    genReqId,
    requestIdHeader: false,
    logController: new RequestLogController(),
    bodyLimit: config.limits.maxBodyBytes,
    // A hop count as Fastify itself compiles it (its types accept no number).
    trustProxy: typeof config.trustProxy === 'number'
      ? ((hops: number) => (_address: string, hop: number) => hop < hops)(config.trustProxy)
      : (config.trustProxy ?? false),
    // Long enough that an over-long id reaches its route and gets a 400 that says so, not a confusing "no route".
    routerOptions: { maxParamLength: 512 },
    ...options.server,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON bodies: parsed off the event loop when large, their number matrices checked in one linear pass.
  await app.register(jsonBodyPlugin, { maxRows: config.limits.maxDatasetRows });

  const owned = !options.manager && !options.store;
  if (!owned && (!options.manager || !options.store)) throw new Error('buildApp: inject both manager and store, or neither');
  const opened = owned
    ? await openStore({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        nodeId,
        ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
        logger: app.log.child({ component: 'store' }),
      })
    : null;
  const store = options.store ?? opened!.store;
  const manager =
    options.manager ??
    createJobManager({
      store,
      bus: opened?.bus,
      role,
      nodeId,
      logger: app.log.child({ component: 'runtime' }),
      workers: config.limits.maxRunningJobs,
      maxQueued: config.limits.maxQueuedJobs,
      streamBufferMessages: config.limits.streamBufferMessages,
      jobTimeoutMs: config.limits.jobTimeoutMs,
      cancelGraceMs: config.cancelGraceMs,
      resourceLimits: config.workerResourceLimits,
      kernel: config.kernel,
      leaseMs: config.leaseMs,
      resumeSnapshotMs: config.resumeSnapshotMs,
      tenantMaxStoredBytes: config.security?.tenantMaxStoredBytes ?? 0,
      webhooks: config.webhooks,
    });
  let drained: Promise<void> | null = null;
  const context: ServiceContext = {
    config,
    manager,
    store,
    state: 'serving',
    runtimeStarted: !owned,
    drain() {
      context.state = 'draining';
      drained ??= manager.stop({ deadlineMs: config.shutdownDeadlineMs });
      return drained;
    },
  };
  if (owned) {
    app.addHook('onReady', async () => {
      await manager.start();
      context.runtimeStarted = true;
    });
    app.addHook('onClose', async () => {
      await context.drain();
      await opened!.close();
    });
  }
  await app.register(contextPlugin, { context });
  await app.register(errorsPlugin, { maxBodyBytes: config.limits.maxBodyBytes });
  await app.register(tenantPlugin, {});
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'gradloom',
        version: API_VERSION,
        description:
          'Training as a service on a PyTorch-compatible autograd engine: submit a job, stream its losses over a ' +
          'WebSocket, download the state dict as safetensors, predict. Every error is `{error, message, ...}`.',
      },
      tags: [
        { name: 'jobs', description: 'Training jobs and their live streams' },
        { name: 'checkpoints', description: 'Trained state dicts' },
        { name: 'predictions', description: 'Inference with a trained job' },
        { name: 'datasets', description: 'Uploaded training data' },
        { name: 'system', description: 'Health, readiness, limits' },
      ],
    },
    transform: createJsonSchemaTransform({ skipList: ['/openapi.json'] }),
    transformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  if (role === 'worker') {
    // A worker node trains and answers its health checks; the jobs API lives on api nodes.
    await app.register(systemRoutes);
    return app as unknown as App;
  }

  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  if (options.extend) await options.extend(app as unknown as App);

  await app.register(systemRoutes);
  await app.register(dashboardRoutes);
  await app.register(
    async (v1) => {
      await v1.register(jobRoutes);
      await v1.register(streamRoutes);
      await v1.register(checkpointRoutes);
      await v1.register(datasetRoutes);
      await v1.register(plotRoutes);
      await v1.register(experimentRoutes);
      await v1.register(webhookRoutes);
    },
    { prefix: '/v1' },
  );

  return app as unknown as App;
}
