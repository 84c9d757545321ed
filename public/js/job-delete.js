// @ts-check
/**
 * The job page's Delete button. It asks inline ("Delete …? Yes / No") rather than with window.confirm, which blocks
 * the page and which headless browsers dismiss. The API refuses queued and running jobs (409 `job_active`), so for
 * those the button stays in place with aria-disabled rather than `disabled`: it remains focusable, and its
 * description and a press both say to cancel first, where a disabled button would say nothing to a keyboard user.
 */
import { api } from './api.js';
import { $, say } from './dom.js';
import { TERMINAL } from './format.js';

const ACTIVE_HINT = 'Cancel the job first: only finished jobs (succeeded, failed or cancelled) can be deleted.';

/** @type {{ id: string, status: string } | null} */
let current = null;

function showConfirm(show) {
  $('#delete-confirm').hidden = !show;
  $('#delete-btn').setAttribute('aria-expanded', String(show));
  for (const sel of ['#delete-yes', '#delete-no']) /** @type {HTMLButtonElement} */ ($(sel)).disabled = false;
}

/** Follows the job's status: deletable once finished; an open confirmation closes if the job becomes active. */
export function renderDelete(job) {
  const fresh = current?.id !== job.id;
  current = { id: job.id, status: job.status };
  const active = !TERMINAL.includes(job.status);
  const btn = $('#delete-btn');
  btn.setAttribute('aria-disabled', String(active));
  btn.title = active ? ACTIVE_HINT : 'Delete this job with its loss history and checkpoints';
  $('#delete-hint').textContent = active ? ACTIVE_HINT : '';
  if (fresh) say($('#delete-error'), '');
  if (active || fresh) showConfirm(false);
}

/** Forgets the job (page closed, or no job could be loaded). */
export function resetDelete() {
  current = null;
  showConfirm(false);
  say($('#delete-error'), '');
}

/** `onDeleted(id)` runs after the API answered 204. */
export function initJobDelete(onDeleted) {
  const btn = $('#delete-btn');
  btn.addEventListener('click', () => {
    if (!current) return;
    if (btn.getAttribute('aria-disabled') === 'true') {
      say($('#delete-error'), `This job is ${current.status}. ${ACTIVE_HINT}`);
      return;
    }
    say($('#delete-error'), '');
    showConfirm(true);
    // "No" takes focus: Enter pressed twice by habit keeps the job.
    $('#delete-no').focus();
  });
  $('#delete-no').addEventListener('click', () => {
    showConfirm(false);
    btn.focus();
  });
  $('#delete-confirm').addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    showConfirm(false);
    btn.focus();
  });
  $('#delete-yes').addEventListener('click', async () => {
    if (!current) return;
    const { id } = current;
    for (const sel of ['#delete-yes', '#delete-no']) /** @type {HTMLButtonElement} */ ($(sel)).disabled = true;
    say($('#delete-error'), '');
    try {
      await api('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (current?.id !== id) return;
      showConfirm(false);
      say($('#delete-error'), `Could not delete the job: ${err instanceof Error ? err.message : String(err)}`);
      btn.focus();
      return;
    }
    if (current?.id === id) resetDelete();
    onDeleted(id);
  });
}
