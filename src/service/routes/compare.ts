/**
 * Compare runs: GET /v1/jobs/compare?ids=a,b (hyperparameters side by side and each job's metrics summary, for the
 * dashboard) and GET /v1/jobs/compare.svg?ids=a,b (their loss curves overlaid, valLoss dashed, for reports).
 * Reads only through the manager (get, metrics). Work is bounded: at most MAX_COMPARED_JOBS jobs per request.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EpochEvent, JobManager, JobRecord } from '../jobs/types.js';
import { renderComparePlot } from '../plots/index.js';
import { validationError } from '../plugins/errors.js';
import { errors } from '../schemas/common.js';
import { compareQuerySchema, compareSchema, compareSvgQuerySchema, MAX_COMPARED_JOBS } from '../schemas/compare.js';
import { finiteOrNull } from './job-views.js';

type HyperValue = number | string | boolean | null;
type Summary = z.output<typeof compareSchema>['jobs'][number]['summary'];

interface Run {
  job: JobRecord;
  epochs: EpochEvent[];
  hyperparameters: Record<string, HyperValue>;
  label: string;
}

/** `?ids=` as distinct ids in order, or a 400 saying what is wrong with it. */
export function parseIds(raw: string): string[] {
  const ids = [...new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  if (ids.length === 0) throw validationError([{ path: 'query.ids', message: 'name at least one job id: ?ids=ID1,ID2' }]);
  if (ids.length > MAX_COMPARED_JOBS) {
    throw validationError([
      { path: 'query.ids', message: `${ids.length} job ids given; at most ${MAX_COMPARED_JOBS} jobs can be compared at once` },
    ]);
  }
  const long = ids.filter((id) => id.length > 128);
  if (long.length > 0) {
    throw validationError([{ path: 'query.ids', message: `job ids are at most 128 characters: ${long.map((id) => `${id.slice(0, 20)}…`).join(', ')}` }]);
  }
  return ids;
}

/**
 * A spec as dotted keys: 'training.optimizer.lr' -> 0.001. Stored inline rows are already their count and digest
 * ('data.rows', 'data.sha256': equal digests, same data), arrays of plain values a string ('[0.9, 0.999]'); the name is shown apart, and a webhook URL is no hyperparameter (and may
 * carry a token), so both are left out.
 */
export function flattenSpec(spec: unknown, prefix = '', out: Record<string, HyperValue> = {}): Record<string, HyperValue> {
  if (!spec || typeof spec !== 'object') return out;
  for (const [key, value] of Object.entries(spec as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (path === 'name' || path === 'webhook' || value === undefined) continue;
    if (Array.isArray(value)) out[path] = value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
    else if (value !== null && typeof value === 'object') flattenSpec(value, path, out);
    else out[path] = value as HyperValue;
  }
  return out;
}

/** The part of a key a legend shows: 'training.optimizer.lr' -> 'lr', 'training.optimizer.kind' -> 'optimizer'. */
function shortKey(key: string): string {
  const parts = key.split('.');
  const last = parts[parts.length - 1];
  return last === 'kind' && parts.length > 1 ? parts[parts.length - 2] : last;
}

/** 1e-6 rather than 0.000001 in a legend. */
const legendValue = (v: HyperValue) =>
  v === null ? '-' : typeof v === 'number' && v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) ? v.toExponential() : String(v);

/** How many differing hyperparameters a legend entry lists. */
const LEGEND_KEYS = 4;
/** Which differences a legend shows first: the optimizer's, then the loop's, then the model's and the data's. */
const LEGEND_PRIORITY = ['training.optimizer.', 'training.scheduler.', 'training.batchSize', 'training.loss', 'training.epochs', 'training.', 'model.kind', 'model.', 'data.kind', 'seed', 'warmStart.', 'data.'];
const priority = (key: string) => {
  const i = LEGEND_PRIORITY.findIndex((p) => key.startsWith(p));
  return i < 0 ? LEGEND_PRIORITY.length : i;
};

/**
 * Legend text per job: its name (or model and short id), then the hyperparameters on which the jobs differ (or,
 * when they differ on none, the optimizer and its lr). Labels that would read the same get the short id.
 */
export function runLabels(runs: Array<Pick<Run, 'job' | 'hyperparameters'>>): string[] {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.hyperparameters)))];
  const differing = keys
    .filter((k) => new Set(runs.map((r) => JSON.stringify(r.hyperparameters[k] ?? null))).size > 1)
    .sort((a, b) => priority(a) - priority(b)); // stable: spec order within a rank
  const shortId = (job: JobRecord) => job.id.slice(0, 8);
  const base = runs.map((r) => r.job.name ?? `${r.job.spec.model.kind} ${shortId(r.job)}`);
  const labels = runs.map((r, i) => {
    const shown = differing.length > 0 ? differing : ['training.optimizer.kind', 'training.optimizer.lr'];
    const parts = shown.slice(0, LEGEND_KEYS).map((k) => `${shortKey(k)}=${legendValue(r.hyperparameters[k] ?? null)}`);
    if (differing.length > LEGEND_KEYS) parts.push('…');
    return { name: base[i], rest: parts.join(', ') };
  });
  const names = labels.map((l) => l.name);
  return labels.map((l, i) => {
    const name = names.indexOf(l.name) !== names.lastIndexOf(l.name) && runs[i].job.name ? `${l.name} (${shortId(runs[i].job)})` : l.name;
    return `${name} · ${l.rest}`;
  });
}

function best(epochs: EpochEvent[], pick: (e: EpochEvent) => number | null | undefined): { value: number | null; epoch: number | null } {
  let value: number | null = null;
  let epoch: number | null = null;
  for (const e of epochs) {
    const v = finiteOrNull(pick(e));
    if (v !== null && (value === null || v < value)) {
      value = v;
      epoch = e.epoch;
    }
  }
  return { value, epoch };
}

export function summarize(epochs: EpochEvent[]): Summary {
  const last = epochs[epochs.length - 1];
  const bestLoss = best(epochs, (e) => e.loss);
  const bestVal = best(epochs, (e) => e.valLoss);
  return {
    epochs: epochs.length,
    finalLoss: finiteOrNull(last?.loss),
    bestLoss: bestLoss.value,
    bestLossEpoch: bestLoss.epoch,
    finalValLoss: finiteOrNull(last?.valLoss),
    bestValLoss: bestVal.value,
    bestValLossEpoch: bestVal.epoch,
  };
}

/** The tenant's jobs with their metrics, or a 400 naming every id that is not one of them. */
async function loadRuns(manager: JobManager, tenant: string, ids: string[]): Promise<Run[]> {
  const jobs = await Promise.all(ids.map((id) => manager.get(tenant, id)));
  const unknown = ids.filter((_, i) => jobs[i] === null);
  if (unknown.length > 0) {
    throw validationError([
      { path: 'query.ids', message: `no such job${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')} (of the ${ids.length} ids given)` },
    ]);
  }
  const runs = await Promise.all(
    (jobs as JobRecord[]).map(async (job) => ({
      job,
      epochs: (await manager.metrics(tenant, job.id)) ?? [],
      hyperparameters: flattenSpec(job.spec),
      label: '',
    })),
  );
  runLabels(runs).forEach((label, i) => (runs[i].label = label));
  return runs;
}

const svgLink = (ids: string[]) => `/v1/jobs/compare.svg?ids=${ids.map(encodeURIComponent).join(',')}`;

export const compareRoutes: FastifyPluginAsyncZod = async (app) => {
  const { manager } = app.gradloom;

  app.get(
    '/jobs/compare',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Several jobs side by side: hyperparameters and metrics summaries',
        description:
          `Up to ${MAX_COMPARED_JOBS} of your jobs (\`?ids=a,b,c\`): each job's spec flattened to dotted keys and a summary of ` +
          'its metrics (final and best loss and valLoss, epochs so far), and every key side by side with whether the ' +
          'jobs differ on it. 400 `validation_error` naming the ids that are unknown, or when there are too many.',
        querystring: compareQuerySchema,
        response: { 200: compareSchema, ...errors(400) },
      },
    },
    async (request) => {
      const ids = parseIds(request.query.ids);
      const runs = await loadRuns(manager, request.tenant, ids);
      const keys = [...new Set(runs.flatMap((r) => Object.keys(r.hyperparameters)))];
      return {
        jobs: runs.map(({ job, epochs, hyperparameters, label }) => {
          const self = `/v1/jobs/${encodeURIComponent(job.id)}`;
          return {
            id: job.id,
            name: job.name,
            label,
            status: job.status,
            epoch: job.epoch,
            epochs: job.epochs,
            hyperparameters,
            summary: summarize(epochs),
            links: { self, metrics: `${self}/metrics`, pytorch: `${self}/pytorch` },
          };
        }),
        hyperparameters: keys.map((key) => {
          const values = runs.map((r) => r.hyperparameters[key] ?? null);
          return { key, values, differs: new Set(values.map((v) => JSON.stringify(v))).size > 1 };
        }),
        links: { svg: svgLink(ids) },
      };
    },
  );

  app.get(
    '/jobs/compare.svg',
    {
      schema: {
        tags: ['jobs'],
        summary: "Several jobs' loss curves overlaid, as an SVG image",
        description:
          `Up to ${MAX_COMPARED_JOBS} of your jobs (\`?ids=a,b,c\`): one line per job, its validation loss dashed in the same ` +
          'colour, and a legend naming each job (its name, or its model and short id) with the hyperparameters the jobs ' +
          'differ on. 400 `validation_error` naming the ids that are unknown, or when there are too many.',
        querystring: compareSvgQuerySchema,
        response: {
          200: { description: 'An SVG document', content: { 'image/svg+xml': { schema: z.string().describe('SVG 1.1') } } },
          ...errors(400),
        },
      },
    },
    async (request, reply) => {
      const ids = parseIds(request.query.ids);
      const runs = await loadRuns(manager, request.tenant, ids);
      const { log, width, height } = request.query;
      const losses = [...new Set(runs.map((r) => r.job.spec.training.loss))];
      const svg = renderComparePlot({
        runs: runs.map((r) => ({
          label: r.label,
          epochs: r.epochs.map((e) => ({ epoch: e.epoch, loss: e.loss, valLoss: e.valLoss })),
        })),
        log: log === 'auto' ? 'auto' : log === '1' || log === 'true',
        lossName: losses.join(' / '),
        width,
        height,
      });
      return reply.type('image/svg+xml; charset=utf-8').header('cache-control', 'no-store').send(svg as never);
    },
  );
};
