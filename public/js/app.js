// @ts-check
/**
 * Entry point: the API key field, and hash routing between the jobs view (#/), a job's page (#/jobs/ID) and the
 * compare view (#/compare?ids=A,B).
 */
import { getApiKey, setApiKey } from './api.js';
import { $, say } from './dom.js';
import { initJobDelete } from './job-delete.js';
import { closeCompare, compareIds, initCompare, openCompare } from './compare.js';
import { closeJobPage, initJobPage, openJobPage } from './job-page.js';
import { forgetJobRow, initJobsList, refreshJobsList, startJobsList, stopJobsList } from './jobs-list.js';
import { initSubmitForm } from './submit-form.js';

/** What the list says when the user lands on it (after a delete); said once. */
let notice = '';

function route({ focus = true } = {}) {
  const match = /^#\/jobs\/([^/?#]+)/.exec(location.hash);
  const compare = compareIds(location.hash);
  const home = $('#home-view');
  const jobView = $('#job-view');
  const compareView = $('#compare-view');
  if (compare) {
    stopJobsList();
    closeJobPage();
    home.hidden = true;
    jobView.hidden = true;
    compareView.hidden = false;
    void openCompare(compare);
    document.title = 'Compare runs · gradloom';
  } else if (match) {
    stopJobsList();
    closeCompare();
    home.hidden = true;
    compareView.hidden = true;
    jobView.hidden = false;
    void openJobPage(decodeURIComponent(match[1]));
    document.title = 'Job · gradloom';
  } else {
    closeJobPage();
    closeCompare();
    jobView.hidden = true;
    compareView.hidden = true;
    home.hidden = false;
    say($('#jobs-notice'), notice);
    notice = '';
    startJobsList();
    document.title = 'gradloom';
  }
  if (focus) $('#main').focus({ preventScroll: true });
}

function init() {
  const keyInput = /** @type {HTMLInputElement} */ ($('#api-key'));
  keyInput.value = getApiKey();
  $('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setApiKey(keyInput.value.trim());
    say($('#key-status'), keyInput.value.trim() ? 'Key saved.' : 'Key cleared.');
    // A job page that failed for want of a key loads again with it; focus stays in the key form.
    if (!$('#home-view').hidden) void refreshJobsList();
    else route({ focus: false });
  });
  initSubmitForm((job) => {
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  });
  initJobPage();
  initCompare();
  initJobDelete((id) => {
    const title = $('#job-title').textContent;
    notice = `Deleted job ${title && title !== id ? `“${title}” (${id})` : id}.`;
    // The row goes at once rather than with the next refresh.
    forgetJobRow(id);
    location.hash = '#/';
  });
  initJobsList();
  window.addEventListener('hashchange', () => route());
  route();
}

init();
