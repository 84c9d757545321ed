// @ts-check
/**
 * Compare runs (#/compare?ids=A,B,...): the loss curves of several jobs overlaid on one chart (validation losses
 * dashed, where the jobs report them), and their hyperparameters and results side by side, rows that differ
 * marked. From GET /v1/jobs/:id and its /metrics; a snapshot, refreshed by the Refresh button.
 */
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api } from './api.js';
import { $, h, say } from './dom.js';
import { formatLoss, jobLabel } from './format.js';
import { logTicks, spansDecades, tickLabels } from './loss-axis.js';

/** Distinct at 4.5:1 or better on white, and told apart without relying on red/green alone. */
const COLORS = ['#1f5fbf', '#b34700', '#2e7d32', '#8e24aa', '#c62828', '#00796b', '#5d4037', '#37474f'];
export const MAX_COMPARED = COLORS.length;

/** @type {{ ids: string[], jobs: any[], metrics: any[], chart: uPlot | null, log: boolean, logChosen: boolean, onResize: () => void } | null} */
let view = null;
let navigation = 0;

/** The compare route's ids, or null when the hash is not a compare route. */
export function compareIds(hash) {
  const match = /^#\/compare\?(.*)$/.exec(hash);
  if (!match) return null;
  const ids = (new URLSearchParams(match[1]).get('ids') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set(ids)];
}

function describeModel(m) {
  const dims = m.kind === 'two_layer_net' ? `${m.inputDim}→${m.hiddenDim}→${m.outputDim}` : `${m.inputDim}→${m.outputDim}`;
  const extra = m.kind === 'two_layer_net' ? `, init ${m.init ?? 'randn'}${m.bias ? ', bias' : ''}` : '';
  return `${m.kind} ${dims}${extra}`;
}

function describeData(d) {
  if (d.kind === 'inline') return `inline, ${Array.isArray(d.x) ? d.x.length : d.rows} rows`;
  if (d.kind === 'random') return `random N(0,1), ${d.n} rows`;
  if (d.kind === 'dataset') return `dataset ${d.id}`;
  return JSON.stringify(d);
}

const optional = (v) => (v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The lowest value of `key` ('loss' or 'valLoss') over the epochs, and its epoch. */
function best(metrics, key = 'loss') {
  let at = null;
  for (const e of metrics.epochs) if (typeof e[key] === 'number' && (at === null || e[key] < at[key])) at = e;
  return at ? `${formatLoss(at[key])} at epoch ${at.epoch}` : '—';
}

const hasValidation = (metrics) => metrics.epochs.some((e) => typeof e.valLoss === 'number');

/**
 * The rows of the side-by-side table: a label and the value for one job.
 * @type {Array<[string, (job: any, metrics: any) => string]>}
 */
const ROWS = [
  ['Status', (j) => `${j.status} · epoch ${j.epoch} of ${j.epochs}`],
  ['Model', (j) => describeModel(j.spec.model)],
  ['Data', (j) => describeData(j.spec.data)],
  ['Epochs', (j) => String(j.spec.training.epochs)],
  ['Loss function', (j) => j.spec.training.loss],
  ['Optimizer', (j) => j.spec.training.optimizer.kind],
  ['Learning rate', (j) => String(j.spec.training.optimizer.lr)],
  ['Optimizer options', (j) => {
    const { kind: _k, lr: _l, ...rest } = j.spec.training.optimizer;
    return Object.keys(rest).length ? Object.entries(rest).map(([k, v]) => `${k} ${optional(v)}`).join(', ') : '—';
  }],
  ['Batch size', (j) => optional(j.spec.training.batchSize ?? 'full batch')],
  ['Scheduler', (j) => optional(j.spec.training.scheduler)],
  ['Validation', (j) => optional(j.spec.training.validation)],
  ['Early stopping', (j) => optional(j.spec.training.earlyStopping)],
  ['Seed', (j) => String(j.spec.seed)],
  ['Checkpoint every', (j) => optional(j.spec.checkpointEvery)],
  ['Tags', (j) => (Array.isArray(j.tags) && j.tags.length ? j.tags.join(', ') : '—')],
  ['Last loss', (j) => formatLoss(j.lastLoss)],
  ['Lowest loss', (_j, m) => best(m)],
  ['Lowest validation loss', (_j, m) => best(m, 'valLoss')],
];

function renderTable(state) {
  const head = h('tr', {}, h('td'));
  state.jobs.forEach((job, i) => {
    const th = h('th', { scope: 'col' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }));
    /** @type {HTMLElement} */ (th.firstChild).style.background = COLORS[i];
    th.append(h('a', { href: `#/jobs/${encodeURIComponent(job.id)}`, text: jobLabel(job), title: job.id }));
    head.append(th);
  });
  $('#compare-table thead').replaceChildren(head);
  const rows = ROWS.map(([label, value]) => {
    const values = state.jobs.map((job, i) => value(job, state.metrics[i]));
    const differs = new Set(values).size > 1;
    const tr = h('tr', { class: differs ? 'differs' : undefined, 'data-row': label });
    tr.append(h('th', { scope: 'row', text: label }), ...values.map((v) => h('td', { text: v })));
    return tr;
  });
  $('#compare-table tbody').replaceChildren(...rows);
}

function chartData(state) {
  const longest = Math.max(0, ...state.metrics.map((m) => (m.epochs.length ? m.epochs.at(-1).epoch : 0)));
  const xs = Array.from({ length: longest }, (_, i) => i + 1);
  const curve = (m, key) => {
    const ys = new Array(longest).fill(null);
    for (const e of m.epochs) {
      const v = typeof e[key] === 'number' ? e[key] : null;
      ys[e.epoch - 1] = state.log && !(v !== null && v > 0) ? null : v;
    }
    return ys;
  };
  // Each job's training loss, then (dashed, same colour) its validation loss when it has one.
  return [xs, ...state.metrics.flatMap((m) => (hasValidation(m) ? [curve(m, 'loss'), curve(m, 'valLoss')] : [curve(m, 'loss')]))];
}

function renderChart(state) {
  const el = $('#compare-chart');
  state.chart?.destroy();
  el.replaceChildren();
  /** @type {uPlot.Axis} */
  const yAxis = {
    label: state.log ? 'loss (log scale)' : 'loss',
    stroke: '#1a1a1a',
    size: 72,
    grid: { stroke: '#e3e3e3', width: 1 },
    values: (_u, ticks) => tickLabels(ticks, state.log),
  };
  if (state.log) {
    yAxis.splits = (_u, _a, min, max) => logTicks(min, max, 9);
    yAxis.filter = (_u, ticks) => ticks;
  }
  state.chart = new uPlot(
    {
      width: Math.max(200, Math.floor(el.getBoundingClientRect().width || 800)),
      height: 360,
      scales: { x: { time: false }, y: state.log ? { distr: 3, log: 10 } : {} },
      axes: [{ label: 'epoch', stroke: '#1a1a1a', grid: { stroke: '#e3e3e3', width: 1 } }, yAxis],
      series: [
        { label: 'epoch' },
        ...state.jobs.flatMap((job, i) => {
          const line = { stroke: COLORS[i], width: 2, points: { show: false }, value: (_u, v) => formatLoss(v) };
          return hasValidation(state.metrics[i])
            ? [{ ...line, label: jobLabel(job) }, { ...line, label: `${jobLabel(job)} (validation)`, dash: [6, 4] }]
            : [{ ...line, label: jobLabel(job) }];
        }),
      ],
      cursor: { drag: { x: false, y: false } },
    },
    /** @type {uPlot.AlignedData} */ (chartData(state)),
    el,
  );
  el.setAttribute('data-series', String(state.jobs.length));
  el.setAttribute('data-validation', String(state.metrics.filter(hasValidation).length));
  el.setAttribute('data-points', state.metrics.map((m) => m.epochs.length).join(','));
  el.setAttribute('data-scale', state.log ? 'log' : 'linear');
  el.setAttribute('aria-label', `Loss per epoch of ${state.jobs.map(jobLabel).join(', ')}`);
}

async function load(state, ticket) {
  say($('#compare-status'), 'Loading…');
  const enc = encodeURIComponent;
  const results = await Promise.allSettled(
    state.ids.map(async (id) => [await api('GET', `/v1/jobs/${enc(id)}`), await api('GET', `/v1/jobs/${enc(id)}/metrics`)]),
  );
  if (ticket !== navigation || view !== state) return;
  const failed = [];
  state.jobs = [];
  state.metrics = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      state.jobs.push(r.value[0]);
      state.metrics.push(r.value[1]);
    } else failed.push(`${state.ids[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  });
  say($('#compare-error'), failed.length ? `Could not load ${failed.length === 1 ? 'one job' : `${failed.length} jobs`}: ${failed.join('; ')}` : '');
  if (!state.logChosen) state.log = state.metrics.some((m) => spansDecades(m.epochs.flatMap((e) => [e.loss, e.valLoss ?? null])));
  /** @type {HTMLInputElement} */ ($('#compare-log')).checked = state.log;
  renderChart(state);
  renderTable(state);
  say($('#compare-status'), `${state.jobs.length} jobs, loaded ${new Date().toLocaleTimeString()}`);
}

export function closeCompare() {
  navigation++;
  if (!view) return;
  view.chart?.destroy();
  window.removeEventListener('resize', view.onResize);
  view = null;
}

export async function openCompare(ids) {
  closeCompare();
  const ticket = navigation;
  $('#compare-chart').replaceChildren();
  $('#compare-chart').setAttribute('data-series', '0');
  $('#compare-table thead').replaceChildren();
  $('#compare-table tbody').replaceChildren();
  say($('#compare-error'), '');
  if (ids.length < 2 || ids.length > MAX_COMPARED) {
    say($('#compare-error'), `Pick between 2 and ${MAX_COMPARED} jobs to compare (this link has ${ids.length}).`);
    return;
  }
  const state = {
    ids,
    jobs: [],
    metrics: [],
    chart: /** @type {uPlot | null} */ (null),
    log: false,
    logChosen: false,
    onResize: () => state.chart?.setSize({ width: Math.max(200, Math.floor($('#compare-chart').getBoundingClientRect().width || 800)), height: 360 }),
  };
  view = state;
  window.addEventListener('resize', state.onResize);
  await load(state, ticket);
}

export function initCompare() {
  $('#compare-log').addEventListener('change', (event) => {
    if (!view) return;
    view.log = /** @type {HTMLInputElement} */ (event.target).checked;
    view.logChosen = true;
    renderChart(view);
  });
  $('#compare-refresh').addEventListener('click', () => view && void load(view, navigation));
}
