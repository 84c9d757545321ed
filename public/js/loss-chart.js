// @ts-check
/**
 * The job page's loss chart (uPlot): the training loss, and the validation loss (dashed) when epochs carry `valLoss`;
 * linear or log scale, readable ticks on both, a hover/keyboard readout, and the automatic switch to the log scale
 * for curves that span several decades (until the user picks a scale).
 */
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { $ } from './dom.js';
import { formatLoss } from './format.js';
import { logTicks, spansDecades, tickLabels } from './loss-axis.js';

const LOSS_COLOR = '#1f5fbf';
const GRID = { stroke: '#e3e3e3', width: 1 };
export const CHART_HEIGHT = 320;
/** Labelled decades that fit the plot's height (about 260 px of it) at a comfortable 28 px apart. */
const MAX_LOG_TICKS = 9;
export const READOUT_HINT = 'Hover or focus the chart and use ← → for epoch and loss';
/** A curve whose largest loss is this many powers of ten above its smallest opens on the log scale. */
export const AUTO_LOG_DECADES = 3;

/**
 * The user's scale choice, kept across job pages: null until they use the toggle, and then each page opens on the
 * log scale when its curve spans AUTO_LOG_DECADES or more.
 * @type {boolean | null}
 */
let chosenLog = null;

/** Whether a new job page opens on the log scale (before its epochs have arrived). */
export function initialLog() {
  return chosenLog ?? false;
}

/** The chart never asks for more width than its card has (a phone is 390 px wide; the card is narrower still). */
export function chartWidth(el) {
  return Math.max(200, Math.floor(el.getBoundingClientRect().width || 800));
}

const VAL_COLOR = '#b34700';

/** Whether the job reports a validation loss (epochs carry `valLoss`): then the chart has a second curve. */
const hasValidation = (state) => state.valLosses.some((v) => v !== null && v !== undefined);

function lossData(state) {
  const positive = (ys) => (state.log ? ys.map((l) => (l !== null && l > 0 ? l : null)) : ys);
  return hasValidation(state) ? [state.epochs, positive(state.losses), positive(state.valLosses)] : [state.epochs, positive(state.losses)];
}

function readout(state, i) {
  const val = state.valLosses[i];
  return `epoch ${state.epochs[i]} · loss ${formatLoss(state.losses[i])}${val !== null && val !== undefined ? ` · validation ${formatLoss(val)}` : ''}`;
}

export function makeLossChart(state) {
  const el = $('#loss-chart');
  state.lossChart?.destroy();
  el.replaceChildren();
  const out = $('#hover-readout');
  /** @type {uPlot.Axis} */
  const yAxis = {
    label: state.log ? 'loss (log scale)' : 'loss',
    stroke: '#1a1a1a',
    size: 72,
    grid: GRID,
    // Labels that are never a row of "0"s; kept on the element so tests (and curious users) can read them.
    values: (_u, ticks) => {
      const labels = tickLabels(ticks, state.log);
      el.setAttribute('data-y-ticks', JSON.stringify(labels.filter((l) => l !== '')));
      return labels;
    },
  };
  if (state.log) {
    // Decades only (thinned to fit), with the grid at the labelled ticks: no band of minor lines.
    yAxis.splits = (_u, _axis, min, max) => logTicks(min, max, MAX_LOG_TICKS);
    yAxis.filter = (_u, ticks) => ticks;
  }
  state.lossChart = new uPlot(
    {
      width: chartWidth(el),
      height: CHART_HEIGHT,
      scales: { x: { time: false }, y: state.log ? { distr: 3, log: 10 } : {} },
      axes: [{ label: 'epoch', stroke: '#1a1a1a', grid: GRID }, yAxis],
      series: [
        { label: 'epoch' },
        { label: 'loss', stroke: LOSS_COLOR, width: 2, points: { show: false }, value: (_u, v) => formatLoss(v) },
        ...(hasValidation(state)
          ? [{ label: 'validation loss', stroke: VAL_COLOR, width: 2, dash: [6, 4], points: { show: false }, value: (_u, v) => formatLoss(v) }]
          : []),
      ],
      cursor: { drag: { x: false, y: false } },
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined || state.epochs[i] === undefined) return;
            out.textContent = readout(state, i);
            state.cursorIdx = i;
          },
        ],
      },
    },
    lossData(state),
    el,
  );
  el.setAttribute('data-scale', state.log ? 'log' : 'linear');
  el.setAttribute('data-series', hasValidation(state) ? 'loss,validation' : 'loss');
  state.chartHasVal = hasValidation(state);
}

/** New points: switches to the log scale first when the curve now spans several decades and the user has not chosen. */
export function updateLossChart(state) {
  if (chosenLog === null && !state.log && spansDecades([...state.losses, ...state.valLosses], AUTO_LOG_DECADES)) {
    state.log = true;
    /** @type {HTMLInputElement} */ ($('#log-toggle')).checked = true;
    makeLossChart(state);
    return;
  }
  // The first validation loss adds its curve: the chart is rebuilt with two series.
  if (state.lossChart && state.chartHasVal !== hasValidation(state)) {
    makeLossChart(state);
    return;
  }
  state.lossChart?.setData(lossData(state));
}

/** The toggle: the user's choice, for this page and the next ones. */
export function setLogScale(state, log) {
  chosenLog = log;
  state.log = log;
  makeLossChart(state);
}

/** Arrow keys move the cursor along the curve, so the values are reachable without a mouse. */
export function onChartKey(state, event) {
  if (!state.lossChart || state.epochs.length === 0) return;
  let i = state.cursorIdx ?? state.epochs.length - 1;
  if (event.key === 'ArrowLeft') i = Math.max(0, i - 1);
  else if (event.key === 'ArrowRight') i = Math.min(state.epochs.length - 1, i + 1);
  else if (event.key === 'Home') i = 0;
  else if (event.key === 'End') i = state.epochs.length - 1;
  else return;
  event.preventDefault();
  const u = state.lossChart;
  const y = lossData(state)[1][i];
  u.setCursor({ left: u.valToPos(state.epochs[i], 'x'), top: y === null ? 0 : u.valToPos(y, 'y') });
  state.cursorIdx = i;
  $('#hover-readout').textContent = readout(state, i);
}
