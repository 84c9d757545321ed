// @ts-check
/** Entry point: the API key field, and hash routing between the jobs view (#/) and a job's page (#/jobs/ID). */
import { getApiKey, setApiKey } from './api.js';
import { $, say } from './dom.js';
import { closeJobPage, initJobPage, openJobPage } from './job-page.js';
import { initJobsList, refreshJobsList, startJobsList, stopJobsList } from './jobs-list.js';
import { initSubmitForm } from './submit-form.js';

function route() {
  const match = /^#\/jobs\/([^/?#]+)/.exec(location.hash);
  const home = $('#home-view');
  const jobView = $('#job-view');
  if (match) {
    stopJobsList();
    home.hidden = true;
    jobView.hidden = false;
    void openJobPage(decodeURIComponent(match[1]));
    document.title = 'Job · gradloom';
  } else {
    closeJobPage();
    jobView.hidden = true;
    home.hidden = false;
    startJobsList();
    document.title = 'gradloom';
  }
  $('#main').focus({ preventScroll: true });
}

function init() {
  const keyInput = /** @type {HTMLInputElement} */ ($('#api-key'));
  keyInput.value = getApiKey();
  $('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setApiKey(keyInput.value.trim());
    say($('#key-status'), keyInput.value.trim() ? 'Key saved.' : 'Key cleared.');
    void refreshJobsList();
  });
  initSubmitForm((job) => {
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  });
  initJobPage();
  initJobsList();
  window.addEventListener('hashchange', route);
  route();
}

init();
