// @ts-check
/**
 * The jobs list, refreshed by polling GET /v1/jobs every two seconds while it is on screen. One request per refresh
 * covers every row; a socket per job would hold one connection per row for a summary that needs no per-epoch detail.
 */
import { api } from './api.js';
import { $, h, say } from './dom.js';
import { formatAgo, formatLoss, jobLabel } from './format.js';

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
let timer = null;
let stopped = true;
/** How many pages the user asked to see ("Show more" adds one); each refresh follows the cursors that far. */
let pages = 1;

function row(job) {
  const tr = h('tr', { 'data-job-id': job.id });
  tr.append(h('td'), h('td'), h('td', { class: 'num' }), h('td', { class: 'num' }), h('td'));
  const link = h('a', { href: `#/jobs/${encodeURIComponent(job.id)}` });
  tr.children[0].append(link);
  const progress = h('progress', { max: '1', value: '0' });
  tr.children[2].append(progress, h('span', { class: 'progress-text' }));
  return tr;
}

function update(tr, job) {
  const [nameCell, statusCell, progressCell, lossCell, createdCell] = /** @type {HTMLElement[]} */ ([...tr.children]);
  const link = /** @type {HTMLAnchorElement} */ (nameCell.firstElementChild);
  link.textContent = jobLabel(job);
  link.title = job.id;
  statusCell.replaceChildren(h('span', { class: `badge ${job.status}`, text: job.status }));
  const progress = /** @type {HTMLProgressElement} */ (progressCell.querySelector('progress'));
  progress.max = Math.max(1, job.epochs);
  progress.value = job.epoch;
  progress.setAttribute('aria-label', `${jobLabel(job)}: epoch ${job.epoch} of ${job.epochs}`);
  /** @type {HTMLElement} */ (progressCell.querySelector('.progress-text')).textContent = ` ${job.epoch}/${job.epochs}`;
  lossCell.textContent = formatLoss(job.lastLoss);
  createdCell.textContent = formatAgo(job.createdAt);
  createdCell.title = job.createdAt;
}

async function refresh() {
  const tbody = $('#jobs-table tbody');
  try {
    const items = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) query.set('cursor', cursor);
      const page = await api('GET', `/v1/jobs?${query}`);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    $('#jobs-more').hidden = !cursor;
    say($('#jobs-error'), '');
    const existing = new Map([...tbody.children].map((tr) => [tr.getAttribute('data-job-id'), tr]));
    const rows = items.map((job) => {
      const tr = existing.get(job.id) ?? row(job);
      update(tr, job);
      return tr;
    });
    // Re-appending keeps existing rows (and any focus inside them) while following the server's order.
    rows.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
    });
    while (tbody.children.length > rows.length) tbody.lastElementChild?.remove();
    $('#jobs-empty').hidden = rows.length > 0;
  } catch (err) {
    say($('#jobs-error'), `Could not load jobs: ${err instanceof Error ? err.message : String(err)}`);
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
  for (const tr of $('#jobs-table tbody').querySelectorAll('tr')) if (tr.getAttribute('data-job-id') === id) tr.remove();
  $('#jobs-empty').hidden = $('#jobs-table tbody').children.length > 0;
}

export function initJobsList() {
  $('#jobs-more').addEventListener('click', () => {
    pages++;
    void refresh();
  });
}
