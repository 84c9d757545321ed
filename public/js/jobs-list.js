// @ts-check
/**
 * The jobs list, refreshed by polling GET /v1/jobs every two seconds while it is on screen. One request per refresh
 * covers every row; a socket per job would hold one connection per row for a summary that needs no per-epoch detail.
 * Filters (name, status, tag) go to the API as `?name=&status=&tag=` and are applied again to its answer, so a
 * server that ignores one still shows only matching rows. Ticked jobs (kept across refreshes and filters) open in
 * the compare view.
 */
import { api } from './api.js';
import { MAX_COMPARED } from './compare.js';
import { $, h, say } from './dom.js';
import { formatAgo, formatLoss, jobLabel } from './format.js';
import { filterParams, matchesFilters } from './job-filter.js';

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const FILTER_DELAY_MS = 300;
let timer = null;
let stopped = true;
/** How many pages the user asked to see ("Show more" adds one); each refresh follows the cursors that far. */
let pages = 1;
/** Ticked for comparison: id → label, in the order ticked. */
const selected = new Map();
/** Answers to an older filter are dropped: counts refreshes. */
let generation = 0;

/** @returns {import('./job-filter.js').JobFilters} */
function currentFilters() {
  const form = /** @type {HTMLFormElement} */ ($('#jobs-filter'));
  const value = (name) => String(new FormData(form).get(name) ?? '');
  return { name: value('name'), status: value('status'), tag: value('tag') };
}

function row(job) {
  const tr = h('tr', { 'data-job-id': job.id });
  tr.append(h('td'), h('td'), h('td', { class: 'num' }), h('td', { class: 'num' }), h('td'));
  const pick = h('input', { type: 'checkbox', class: 'pick', 'data-job-id': job.id });
  const link = h('a', { href: `#/jobs/${encodeURIComponent(job.id)}` });
  tr.children[0].append(pick, link);
  const progress = h('progress', { max: '1', value: '0' });
  tr.children[2].append(progress, h('span', { class: 'progress-text' }));
  return tr;
}

function update(tr, job) {
  const [nameCell, statusCell, progressCell, lossCell, createdCell] = /** @type {HTMLElement[]} */ ([...tr.children]);
  const label = jobLabel(job);
  const pick = /** @type {HTMLInputElement} */ (nameCell.querySelector('input.pick'));
  pick.checked = selected.has(job.id);
  pick.setAttribute('aria-label', `Compare ${label}`);
  if (selected.has(job.id)) selected.set(job.id, label);
  const link = /** @type {HTMLAnchorElement} */ (nameCell.querySelector('a'));
  link.textContent = label;
  link.title = job.id;
  statusCell.replaceChildren(h('span', { class: `badge ${job.status}`, text: job.status }));
  const progress = /** @type {HTMLProgressElement} */ (progressCell.querySelector('progress'));
  progress.max = Math.max(1, job.epochs);
  progress.value = job.epoch;
  progress.setAttribute('aria-label', `${label}: epoch ${job.epoch} of ${job.epochs}`);
  /** @type {HTMLElement} */ (progressCell.querySelector('.progress-text')).textContent = ` ${job.epoch}/${job.epochs}`;
  lossCell.textContent = formatLoss(job.lastLoss);
  createdCell.textContent = formatAgo(job.createdAt);
  createdCell.title = job.createdAt;
}

function renderCompareButton() {
  const btn = /** @type {HTMLButtonElement} */ ($('#compare-btn'));
  btn.disabled = selected.size < 2 || selected.size > MAX_COMPARED;
  btn.textContent = selected.size > 0 ? `Compare selected (${selected.size})` : 'Compare selected';
  $('#compare-hint').textContent =
    selected.size > MAX_COMPARED
      ? `At most ${MAX_COMPARED} jobs at once: untick ${selected.size - MAX_COMPARED}.`
      : selected.size >= 2
        ? [...selected.values()].join(', ')
        : 'Tick two or more jobs to overlay their loss curves.';
}

async function refresh() {
  const tbody = $('#jobs-table tbody');
  const ticket = ++generation;
  const filters = currentFilters();
  try {
    const items = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      for (const [k, v] of filterParams(filters)) query.set(k, v);
      if (cursor) query.set('cursor', cursor);
      const page = await api('GET', `/v1/jobs?${query}`);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    if (ticket !== generation) return;
    $('#jobs-more').hidden = !cursor;
    say($('#jobs-error'), '');
    const shown = items.filter((job) => matchesFilters(job, filters));
    const existing = new Map([...tbody.children].map((tr) => [tr.getAttribute('data-job-id'), tr]));
    const rows = shown.map((job) => {
      const tr = existing.get(job.id) ?? row(job);
      update(tr, job);
      return tr;
    });
    // Re-appending keeps existing rows (and any focus inside them) while following the server's order.
    rows.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
    });
    while (tbody.children.length > rows.length) tbody.lastElementChild?.remove();
    const filtered = filterParams(filters).length > 0;
    $('#jobs-empty').hidden = rows.length > 0 || filtered;
    $('#jobs-none-match').hidden = rows.length > 0 || !filtered;
    renderCompareButton();
  } catch (err) {
    if (ticket === generation) say($('#jobs-error'), `Could not load jobs: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function loop() {
  if (stopped) return;
  await refresh();
  if (!stopped) timer = setTimeout(loop, document.hidden ? REFRESH_MS * 5 : REFRESH_MS);
}

export function startJobsList() {
  if (!stopped) return;
  stopped = false;
  void loop();
}

export function stopJobsList() {
  stopped = true;
  if (timer) clearTimeout(timer);
  timer = null;
}

export const refreshJobsList = refresh;

/** Drops a job's row now (it was deleted), without waiting for the next refresh. */
export function forgetJobRow(id) {
  selected.delete(id);
  for (const tr of $('#jobs-table tbody').querySelectorAll('tr')) if (tr.getAttribute('data-job-id') === id) tr.remove();
  $('#jobs-empty').hidden = $('#jobs-table tbody').children.length > 0;
  renderCompareButton();
}

export function initJobsList() {
  $('#jobs-more').addEventListener('click', () => {
    pages++;
    void refresh();
  });
  $('#jobs-table tbody').addEventListener('change', (event) => {
    const pick = /** @type {HTMLInputElement} */ (event.target);
    if (!pick.matches('input.pick')) return;
    const id = pick.getAttribute('data-job-id') ?? '';
    if (pick.checked) selected.set(id, pick.closest('td')?.querySelector('a')?.textContent ?? id);
    else selected.delete(id);
    renderCompareButton();
  });
  $('#compare-btn').addEventListener('click', () => {
    if (selected.size < 2 || selected.size > MAX_COMPARED) return;
    location.hash = `#/compare?ids=${[...selected.keys()].map(encodeURIComponent).join(',')}`;
  });
  // Typing filters after a pause; choosing a status at once. A new filter starts from the first page.
  let pending = null;
  const refilter = (delay) => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      pages = 1;
      void refresh();
    }, delay);
  };
  const form = $('#jobs-filter');
  form.addEventListener('input', (event) => refilter(/** @type {HTMLElement} */ (event.target).tagName === 'SELECT' ? 0 : FILTER_DELAY_MS));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    refilter(0);
  });
  // The reset button clears the fields after this event: filter once they are empty.
  form.addEventListener('reset', () => setTimeout(() => refilter(0), 0));
}
