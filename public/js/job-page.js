// @ts-check
/**
 * One job: the loss curve growing over the WebSocket, status and timings, cancel, checkpoint download, predictions,
 * and for a 1-input linear regression the data with the fitted line, redrawn from the newest checkpoint
 * (GET /checkpoints, then its `?format=json`) while it trains. The regression preset keeps a checkpoint every 5
 * epochs for this; without periodic checkpoints the line appears when the job finishes.
 */
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { api, ApiError, download, streamUrl } from './api.js';
import { $, h, say } from './dom.js';
import { EtaEstimator } from './eta.js';
import { formatDuration, formatLoss, jobLabel, TERMINAL } from './format.js';
import { renderDelete, resetDelete } from './job-delete.js';
import { newestCheckpoint, noCheckpointReason, noLineYet, predictDefault } from './job-facts.js';
import { CHART_HEIGHT, chartWidth, initialLog, makeLossChart, onChartKey, READOUT_HINT, setLogScale, updateLossChart } from './loss-chart.js';

const LOSS_COLOR = '#1f5fbf';
const DATA_COLOR = '#b34700';
const FIT_REFRESH_MS = 600;
const JOB_REFRESH_MS = 2000;

/** @typedef {{ epoch: number, kind: string, links: { download: string, json: string } }} CheckpointInfo */

/** Everything the open job page holds; replaced on every navigation so that nothing leaks between jobs. */
let page = null;
/**
 * Counts navigations. A job's first GET can still be in flight when the user moves on (to the list or another job);
 * its answer must then not open a page (a socket and a poll) behind the current view.
 */
let navigation = 0;

function scheduleRedraw(state) {
  if (state.redrawPending) return;
  state.redrawPending = true;
  requestAnimationFrame(() => {
    state.redrawPending = false;
    if (page !== state) return;
    updateLossChart(state);
    $('#loss-chart').setAttribute('data-points', String(state.epochs.length));
    renderStatus(state);
  });
}

function isFitJob(job) {
  const m = job.spec.model;
  return m.kind === 'linear_regression' && m.inputDim === 1 && m.outputDim === 1 && job.spec.data.kind === 'inline';
}

/**
 * The job's inline training rows the page shows: the first page of them for the fit chart, else only the first row
 * (the Predict default). The job record carries only their count; GET /v1/jobs/:id/data has them. Null when the job
 * has no inline rows or they could not be read (the page still works without them).
 */
async function loadInlineRows(job) {
  if (job.spec.data.kind !== 'inline') return null;
  try {
    return await api('GET', `/v1/jobs/${encodeURIComponent(job.id)}/data${isFitJob(job) ? '' : '?limit=1'}`);
  } catch {
    return null;
  }
}

function makeFitChart(state, rows) {
  const { x, y } = rows ?? { x: [], y: [] };
  const pairs = x.map((row, i) => [row[0], y[i][0]]).sort((a, b) => a[0] - b[0]);
  state.fitXs = pairs.map((p) => p[0]);
  state.fitYs = pairs.map((p) => p[1]);
  const el = $('#fit-chart');
  el.replaceChildren();
  state.fitChart = new uPlot(
    {
      width: chartWidth(el),
      height: CHART_HEIGHT,
      scales: { x: { time: false } },
      axes: [
        { label: 'x', stroke: '#1a1a1a', grid: { stroke: '#e3e3e3' } },
        { label: 'y', stroke: '#1a1a1a', grid: { stroke: '#e3e3e3' } },
      ],
      series: [
        { label: 'x' },
        { label: 'data', stroke: DATA_COLOR, paths: () => null, points: { show: true, size: 9, fill: DATA_COLOR, stroke: DATA_COLOR } },
        { label: 'fitted line', stroke: LOSS_COLOR, width: 2, points: { show: false } },
      ],
    },
    [state.fitXs, state.fitYs, state.fitXs.map(() => null)],
    el,
  );
}

/**
 * Redraws the line from the newest checkpoint. A request made while one is in flight is not dropped but runs once
 * that one ends: the in-flight one may have asked before the checkpoint the caller knows of (the final one) existed.
 */
async function refreshFit(state) {
  if (!state.fitChart) return;
  if (state.fitBusy) {
    state.fitAgain = true;
    return;
  }
  state.fitBusy = true;
  state.fitAgain = false;
  state.fitFetchedAt = Date.now();
  try {
    const list = await api('GET', `/v1/jobs/${encodeURIComponent(state.job.id)}/checkpoints`);
    if (page !== state) return;
    const newest = newestCheckpoint(/** @type {CheckpointInfo[]} */ (list.items));
    if (!newest) {
      if (state.fitKey === null) say($('#fit-caption'), noLineYet(state.job));
      return;
    }
    const key = `${newest.kind}-${newest.epoch}`;
    if (key === state.fitKey) return;
    const json = await api('GET', newest.links.json);
    if (page !== state) return;
    const w = Number(json.tensors.weight.data[0][0]);
    const b = Number(json.tensors.bias?.data[0] ?? 0);
    state.fitChart.setData([state.fitXs, state.fitYs, state.fitXs.map((x) => w * x + b)]);
    state.fitKey = key;
    const el = $('#fit-chart');
    el.setAttribute('data-fit', key);
    el.setAttribute('aria-label', `Training points and the fitted line y = ${formatLoss(w)}·x + ${formatLoss(b)}`);
    say($('#fit-caption'), `Line from the ${newest.kind === 'final' ? 'final checkpoint' : 'checkpoint'} at epoch ${newest.epoch}: y = ${formatLoss(w)}·x + ${formatLoss(b)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) say($('#fit-caption'), `Could not load the fitted line: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    state.fitBusy = false;
    if (state.fitAgain && page === state) void refreshFit(state);
  }
}

function renderStatus(state) {
  const job = state.job;
  const epoch = Math.max(job.epoch, state.epochs.at(-1) ?? 0);
  const last = state.losses.at(-1) ?? job.lastLoss;
  let line = `${job.status} · epoch ${epoch} of ${job.epochs}`;
  if (last !== null && last !== undefined) line += ` · loss ${formatLoss(last)}`;
  const lastVal = state.valLosses.at(-1);
  if (lastVal !== null && lastVal !== undefined) line += ` · validation ${formatLoss(lastVal)}`;
  if (job.status === 'running') {
    const eta = state.eta.etaMs(job.epochs, performance.now());
    if (eta !== null) line += ` · about ${formatDuration(eta)} left`;
  }
  const status = $('#job-status');
  status.textContent = line;
  // Screen readers hear the status when it changes and every 10% of progress, not every epoch.
  const bucket = `${job.status}-${Math.floor((10 * epoch) / Math.max(1, job.epochs))}`;
  if (bucket !== state.announced) {
    say($('#job-announce'), line);
    state.announced = bucket;
  }
  status.setAttribute('data-status', job.status);
  const progress = /** @type {HTMLProgressElement} */ ($('#job-progress'));
  progress.max = Math.max(1, job.epochs);
  progress.value = epoch;
  const done = TERMINAL.includes(job.status);
  /** @type {HTMLButtonElement} */ ($('#cancel-btn')).disabled = done;
  renderDelete(job);
  say($('#job-error'), job.error ? `${job.error.code}: ${job.error.message}` : '');
  renderTimings(state);
}

function renderTimings(state) {
  const job = state.job;
  const now = Date.now();
  const created = Date.parse(job.createdAt);
  const started = job.startedAt ? Date.parse(job.startedAt) : null;
  const finished = job.finishedAt ? Date.parse(job.finishedAt) : null;
  const rows = [
    ['Created', new Date(created).toLocaleString()],
    ['Waited in queue', started ? formatDuration(started - created) : job.status === 'queued' ? `${formatDuration(now - created)} so far` : '—'],
    ['Training time', started ? formatDuration((finished ?? now) - started) + (finished ? '' : ' so far') : '—'],
    ['Epochs per second', started && job.epoch > 0 ? (job.epoch / (((finished ?? now) - started) / 1000 || 1e-3)).toFixed(1) : '—'],
    ['Model', `${job.spec.model.kind} ${job.spec.model.inputDim}→${job.spec.model.outputDim}`],
    ['Training', `${job.spec.training.epochs} epochs, ${job.spec.training.loss}, ${job.spec.training.optimizer.kind} lr ${job.spec.training.optimizer.lr}, seed ${job.spec.seed}`],
  ];
  $('#job-timings').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
}

async function refreshJob(state) {
  try {
    const job = await api('GET', `/v1/jobs/${encodeURIComponent(state.job.id)}`);
    if (page !== state) return;
    state.job = job;
    renderStatus(state);
    if (TERMINAL.includes(job.status)) {
      if (state.fitChart) void refreshFit(state);
    }
  } catch (err) {
    if (page === state) say($('#job-error'), err instanceof Error ? err.message : String(err));
  }
}

/** Replaces what the stream gave with GET /metrics (after a 'dropped' message the stream skipped epochs). */
async function reloadMetrics(state) {
  const metrics = await api('GET', `/v1/jobs/${encodeURIComponent(state.job.id)}/metrics`);
  if (page !== state) return;
  state.epochs = metrics.epochs.map((e) => e.epoch);
  state.losses = metrics.epochs.map((e) => e.loss);
  state.valLosses = metrics.epochs.map((e) => e.valLoss ?? null);
  scheduleRedraw(state);
}

async function connect(state) {
  const url = await streamUrl(state.job.id);
  if (page !== state) return;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.addEventListener('message', (event) => {
    if (page !== state) return;
    const message = JSON.parse(event.data);
    if (message.type === 'epoch') {
      // After a reconnect the server replays from the start: keep only what is new.
      if (state.epochs.length > 0 && message.epoch <= state.epochs[state.epochs.length - 1]) return;
      state.epochs.push(message.epoch);
      state.losses.push(message.loss);
      state.valLosses.push(message.valLoss ?? null);
      // The replay of epochs done before the page opened arrives in one burst: it says nothing about the pace.
      if (message.epoch > state.liveFrom) state.eta.observe(message.epoch, performance.now());
      if (state.job.status === 'queued') state.job.status = 'running';
      state.job.epoch = message.epoch;
      state.job.lastLoss = message.loss;
      scheduleRedraw(state);
      if (state.fitChart && Date.now() - state.fitFetchedAt > FIT_REFRESH_MS) void refreshFit(state);
    } else if (message.type === 'status') {
      state.job = { ...state.job, status: message.status, epoch: message.epoch, epochs: message.epochs, lastLoss: message.lastLoss, error: message.error };
      scheduleRedraw(state);
      if (TERMINAL.includes(message.status)) {
        state.finished = true;
        void refreshJob(state);
      }
    } else if (message.type === 'dropped') {
      say($('#action-status'), `The stream skipped ${message.count} epochs (${message.reason}); reloading them from /metrics.`);
      void reloadMetrics(state);
    }
  });
  socket.addEventListener('close', () => {
    if (page !== state || state.finished) return;
    // Not finished but closed (network, server restart): reconnect with backoff; the replay fills any gap.
    state.retryMs = Math.min(10_000, (state.retryMs || 500) * 2);
    state.retryTimer = setTimeout(() => page === state && void connect(state), state.retryMs);
  });
  socket.addEventListener('open', () => {
    state.retryMs = 0;
  });
}

export function closeJobPage() {
  navigation++;
  resetDelete();
  if (!page) return;
  const state = page;
  page = null;
  state.finished = true;
  state.socket?.close();
  clearTimeout(state.retryTimer);
  clearInterval(state.jobTimer);
  state.lossChart?.destroy();
  state.fitChart?.destroy();
  window.removeEventListener('resize', state.onResize);
}

export async function openJobPage(id) {
  closeJobPage();
  const ticket = navigation;
  // Until the job loads, only its id shows: no controls that would act on nothing, nothing left from the last job.
  for (const el of document.querySelectorAll('[data-job-only]')) /** @type {HTMLElement} */ (el).hidden = true;
  $('#fit-section').hidden = true;
  for (const sel of ['#job-status', '#job-announce', '#job-error', '#action-status', '#fit-caption']) say($(sel), '');
  $('#job-status').removeAttribute('data-status');
  $('#job-title').textContent = 'Job';
  $('#job-id').textContent = id;
  $('#job-timings').replaceChildren();
  $('#loss-chart').replaceChildren();
  $('#loss-chart').setAttribute('data-points', '0');
  // Nothing read from the last job's chart stays on screen.
  $('#hover-readout').textContent = READOUT_HINT;
  $('#fit-chart').setAttribute('data-fit', 'none');
  say($('#predict-result'), '');
  /** @type {HTMLTextAreaElement} */ ($('#predict-x')).value = '';
  $('#predict-shape').textContent = '';
  for (const el of document.querySelectorAll('#predict-form .field-error')) el.remove();
  $('#predict-x').removeAttribute('aria-invalid');
  let job;
  try {
    job = await api('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    if (ticket !== navigation) return;
    const gone = err instanceof ApiError && err.status === 404 ? ' It may have been deleted: see all jobs.' : '';
    say($('#job-error'), `Could not load the job: ${err instanceof Error ? err.message : String(err)}.${gone}`);
    return;
  }
  if (ticket !== navigation) return;
  const rows = await loadInlineRows(job);
  if (ticket !== navigation) return;
  const state = {
    job,
    epochs: [],
    losses: [],
    /** Validation loss per epoch (null where the epoch has none); a second curve once one arrives. */
    valLosses: [],
    chartHasVal: false,
    eta: new EtaEstimator(),
    liveFrom: job.epoch,
    log: initialLog(),
    lossChart: /** @type {uPlot | null} */ (null),
    fitChart: /** @type {uPlot | null} */ (null),
    fitXs: [],
    fitYs: [],
    fitKey: null,
    fitBusy: false,
    fitAgain: false,
    fitFetchedAt: 0,
    finished: false,
    socket: null,
    retryMs: 0,
    retryTimer: /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined),
    jobTimer: /** @type {ReturnType<typeof setInterval> | undefined} */ (undefined),
    cursorIdx: null,
    redrawPending: false,
    announced: null,
    onResize: () => {
      state.lossChart?.setSize({ width: chartWidth($('#loss-chart')), height: CHART_HEIGHT });
      state.fitChart?.setSize({ width: chartWidth($('#fit-chart')), height: CHART_HEIGHT });
    },
  };
  page = state;
  $('#job-title').textContent = jobLabel(job);
  /** @type {HTMLInputElement} */ ($('#log-toggle')).checked = state.log;
  // The Predict box starts with a row of the model's width, and says the shape.
  const predict = predictDefault(job.spec, rows?.x[0]);
  /** @type {HTMLTextAreaElement} */ ($('#predict-x')).value = predict.text;
  $('#predict-shape').textContent = predict.shape;
  for (const el of document.querySelectorAll('[data-job-only]')) /** @type {HTMLElement} */ (el).hidden = false;
  makeLossChart(state);
  $('#fit-section').hidden = !isFitJob(job);
  $('#fit-svg-btn').hidden = !isFitJob(job);
  if (isFitJob(job)) {
    makeFitChart(state, rows);
    say($('#fit-caption'), noLineYet(job));
    void refreshFit(state);
  }
  renderStatus(state);
  void connect(state);
  // Timings (startedAt, finishedAt) are not in the stream; a slow poll keeps them current.
  state.jobTimer = setInterval(() => {
    if (!TERMINAL.includes(state.job.status)) void refreshJob(state);
    else renderTimings(state);
  }, JOB_REFRESH_MS);
  window.addEventListener('resize', state.onResize);
}

export function initJobPage() {
  $('#loss-chart').addEventListener('keydown', (event) => page && onChartKey(page, event));
  $('#log-toggle').addEventListener('change', (event) => {
    if (!page) return;
    setLogScale(page, /** @type {HTMLInputElement} */ (event.target).checked);
  });
  $('#cancel-btn').addEventListener('click', async () => {
    if (!page) return;
    const state = page;
    try {
      state.job = await api('POST', `/v1/jobs/${encodeURIComponent(state.job.id)}/cancel`);
      say($('#action-status'), state.job.status === 'cancelled' ? 'Cancelled.' : 'Cancel requested: the job stops at the end of its current epoch.');
      renderStatus(state);
    } catch (err) {
      say($('#action-status'), err instanceof Error ? err.message : String(err));
    }
  });
  // Downloads go through fetch (not a plain link) so that they carry the API key.
  const saveFrom = (path, fallbackName) => async () => {
    if (!page) return;
    try {
      const { blob, filename } = await download(path(page.job.id));
      const name = filename ?? fallbackName(page.job.id);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      say($('#action-status'), `Downloaded ${name} (${blob.size} bytes).`);
    } catch (err) {
      say($('#action-status'), err instanceof Error ? err.message : String(err));
    }
  };
  const jobUrl = (id, rest) => `/v1/jobs/${encodeURIComponent(id)}${rest}`;
  // The checkpoint: whichever GET /checkpoints lists (final, else the latest epoch's, a cancelled job's last resume
  // point included); when it lists none, why not, for the job's status.
  $('#download-btn').addEventListener('click', async () => {
    if (!page) return;
    const state = page;
    let newest;
    try {
      newest = newestCheckpoint(/** @type {CheckpointInfo[]} */ ((await api('GET', jobUrl(state.job.id, '/checkpoints'))).items));
    } catch (err) {
      say($('#action-status'), err instanceof Error ? err.message : String(err));
      return;
    }
    if (page !== state) return;
    if (!newest) {
      say($('#action-status'), noCheckpointReason(state.job));
      return;
    }
    const suffix = newest.kind === 'final' ? '' : `-epoch${newest.epoch}`;
    await saveFrom(() => newest.links.download, (id) => `${id}${suffix}.safetensors`)();
  });
  $('#loss-svg-btn').addEventListener(
    'click',
    saveFrom((id) => jobUrl(id, `/plots/loss.svg${page?.log ? '?log=1' : ''}`), (id) => `${id}-loss.svg`),
  );
  $('#fit-svg-btn').addEventListener('click', saveFrom((id) => jobUrl(id, '/plots/fit.svg'), (id) => `${id}-fit.svg`));
  $('#predict-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!page) return;
    const form = /** @type {HTMLFormElement} */ (event.target);
    const input = /** @type {HTMLTextAreaElement} */ ($('#predict-x'));
    const out = $('#predict-result');
    for (const el of form.querySelectorAll('.field-error')) el.remove();
    input.removeAttribute('aria-invalid');
    input.setAttribute('aria-describedby', 'predict-shape');
    const showError = (message) => {
      const id = 'err-predict-x';
      input.closest('.field')?.append(h('p', { class: 'field-error', id, text: message }));
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `predict-shape ${id}`);
      out.textContent = '';
    };
    let x;
    try {
      x = JSON.parse(input.value);
    } catch (err) {
      showError(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    try {
      const result = await api('POST', `/v1/jobs/${encodeURIComponent(page.job.id)}/predictions`, { x });
      out.textContent = JSON.stringify(result.y);
    } catch (err) {
      const issues = err instanceof ApiError ? err.issues : [];
      showError(issues.length ? issues.map((i) => `${i.path}: ${i.message}`).join('; ') : err instanceof Error ? err.message : String(err));
    }
  });
}
