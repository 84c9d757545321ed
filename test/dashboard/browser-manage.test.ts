/**
 * Managing jobs from the dashboard in real headless Chromium against a real server with an API key: deleting a
 * finished job (inline confirmation, keyboard, back to a list without it, the API's 404 after), the Delete button
 * of an active job, delete failures shown on the page, a job page that cannot load (missing job, missing key), and
 * a slow job load overtaken by navigation, a submission retried after its answer was lost. Screenshots go to test-artifacts/.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest';
import { regressionSpec, twoLayerSpec } from '../helpers/app.js';
import { startLiveServer, waitForJob, type LiveServer } from '../helpers/live-server.js';
import { ARTIFACTS, launchDashboardBrowser, type DashboardBrowser } from './chromium.js';

const KEY = 'dashboard-manage-key-0123456789';

let server: LiveServer;
let browser: DashboardBrowser;
let page: Page;

beforeAll(async () => {
  server = await startLiveServer({ apiKey: KEY });
  browser = await launchDashboardBrowser();
  page = browser.page;
  await page.goto(server.url + '/');
  await page.evaluate(`localStorage.setItem('gradloom.apiKey', ${JSON.stringify(KEY)})`);
  await page.reload(); // the key field shows the stored key
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function submit(spec: object): Promise<string> {
  const res = await server.api('POST', '/v1/jobs', spec);
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function openJob(id: string) {
  await page.goto(`${server.url}/#/jobs/${encodeURIComponent(id)}`);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toMatch(/./);
}

/** Chromium logs a request the test aborted on purpose as a console error: that one is not a problem. */
function dropExpectedProblem(pattern: RegExp) {
  const i = browser.problems.findIndex((p) => pattern.test(p));
  if (i >= 0) browser.problems.splice(i, 1);
}

const activeSpec = { ...twoLayerSpec, name: 'long', training: { ...twoLayerSpec.training, epochs: 100_000 } };

test('a finished job is deleted through the page: confirm, back to the list without it, and the API answers 404', async () => {
  const kept = await submit({ ...regressionSpec, name: 'kept' });
  const doomed = await submit({ ...regressionSpec, name: 'to delete' });
  await waitForJob(server, kept);
  await waitForJob(server, doomed);
  await openJob(doomed);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toBe('succeeded');
  expect(await page.getAttribute('#delete-btn', 'aria-disabled')).toBe('false');
  expect(await page.isVisible('#delete-confirm')).toBe(false);

  // "No" keeps the job and gives focus back to the button.
  await page.click('#delete-btn');
  expect(await page.isVisible('#delete-confirm')).toBe(true);
  expect(await page.getAttribute('#delete-btn', 'aria-expanded')).toBe('true');
  expect(await page.textContent('#delete-question')).toBe('Delete this job, its loss history and checkpoints?');
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-no');
  await page.click('#delete-no');
  expect(await page.isVisible('#delete-confirm')).toBe(false);
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-btn');
  expect((await server.api('GET', `/v1/jobs/${doomed}`)).status).toBe(200);

  // From the keyboard: Enter opens the question, Escape closes it, Shift+Tab from "No" reaches "Yes".
  await page.focus('#delete-btn');
  await page.keyboard.press('Enter');
  expect(await page.isVisible('#delete-confirm')).toBe(true);
  await page.keyboard.press('Escape');
  expect(await page.isVisible('#delete-confirm')).toBe(false);
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-btn');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Shift+Tab');
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-yes');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-delete-confirm.png'), fullPage: false });
  await page.keyboard.press('Enter');

  // Back on the list: the deleted job's row is gone, the other one is there, and the list says what happened.
  await page.waitForURL(/#\/$/);
  await expect.poll(() => page.locator(`tr[data-job-id="${kept}"]`).count()).toBe(1);
  expect(await page.locator(`tr[data-job-id="${doomed}"]`).count()).toBe(0);
  expect(await page.textContent('#jobs-notice')).toBe(`Deleted job “to delete” (${doomed}).`);
  // The next refreshes (the list polls GET /v1/jobs) do not bring it back.
  for (let i = 0; i < 2; i++) await page.waitForEvent('requestfinished', (r) => new URL(r.url()).pathname === '/v1/jobs');
  expect(await page.locator(`tr[data-job-id="${doomed}"]`).count()).toBe(0);
  expect(await page.locator(`tr[data-job-id="${kept}"]`).count()).toBe(1);
  expect((await server.api('GET', `/v1/jobs/${doomed}`)).status).toBe(404);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-delete.png'), fullPage: false });

  // Back to the deleted job's page: it says so, and offers no controls that would act on nothing.
  await page.goBack();
  await page.waitForURL(/#\/jobs\//);
  await expect.poll(() => page.textContent('#job-error')).toBe(`Could not load the job: job ${doomed} not found. It may have been deleted: see all jobs.`);
  for (const sel of ['#delete-btn', '#cancel-btn', '#download-btn', '#loss-chart', '#predict-form', '#fit-chart']) expect(await page.isVisible(sel), sel).toBe(false);
});

test('an active job cannot be deleted: the button says to cancel first, and becomes usable once cancelled', async () => {
  const id = await submit(activeSpec);
  // The server has one worker: whatever happens here, the long job must not hold it for the tests after.
  onTestFinished(async () => void (await server.api('POST', `/v1/jobs/${id}/cancel`)));
  await waitForJob(server, id, (j) => j.status === 'running');
  await openJob(id);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toBe('running');
  const btn = page.locator('#delete-btn');
  expect(await btn.getAttribute('aria-disabled')).toBe('true');
  expect(await btn.getAttribute('title')).toMatch(/^Cancel the job first/);
  // Still focusable (aria-disabled, not disabled), and its description tells a screen reader why.
  expect(await page.evaluate("document.getElementById('delete-btn').disabled")).toBe(false);
  await btn.focus();
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-btn');
  expect(await page.textContent('#delete-hint')).toMatch(/^Cancel the job first/);
  await page.keyboard.press('Enter');
  expect(await page.isVisible('#delete-confirm')).toBe(false);
  expect(await page.textContent('#delete-error')).toBe(
    'This job is running. Cancel the job first: only finished jobs (succeeded, failed or cancelled) can be deleted.',
  );
  expect((await server.api('GET', `/v1/jobs/${id}`)).status).toBe(200);

  await page.click('#cancel-btn');
  await expect.poll(() => page.getAttribute('#job-status', 'data-status'), { timeout: 30_000 }).toBe('cancelled');
  expect(await btn.getAttribute('aria-disabled')).toBe('false');
  expect(await page.textContent('#delete-hint')).toBe('');
  await btn.click();
  await page.click('#delete-yes');
  await page.waitForURL(/#\/$/);
  expect((await server.api('GET', `/v1/jobs/${id}`)).status).toBe(404);
});

test("the API's refusal and a network failure are shown on the page, and the job stays", async () => {
  const id = await submit({ ...regressionSpec, name: 'stays' });
  await waitForJob(server, id);
  await openJob(id);
  await expect.poll(() => page.getAttribute('#delete-btn', 'aria-disabled')).toBe('false');
  const url = `${server.url}/v1/jobs/${id}`;

  // A 409 as the server words it (the job became active elsewhere between the page's last poll and the click).
  const refusal = { error: 'job_active', message: `job ${id} is running; cancel it first (POST /v1/jobs/${id}/cancel)` };
  await page.route(url, (route) =>
    route.request().method() === 'DELETE' ? route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify(refusal) }) : route.fallback(),
  );
  await page.click('#delete-btn');
  await page.click('#delete-yes');
  await expect.poll(() => page.textContent('#delete-error')).toBe(`Could not delete the job: ${refusal.message}`);
  expect(page.url()).toMatch(/#\/jobs\//);
  expect(await page.isVisible('#delete-confirm')).toBe(false);
  expect(await page.evaluate('document.activeElement?.id')).toBe('delete-btn');
  await page.unroute(url);

  // The connection fails.
  await page.route(url, (route) => (route.request().method() === 'DELETE' ? route.abort('connectionrefused') : route.fallback()));
  await page.click('#delete-btn');
  await page.click('#delete-yes');
  await expect.poll(() => page.textContent('#delete-error')).toMatch(/^Could not delete the job: \S/);
  expect(await page.textContent('#delete-error')).not.toBe(`Could not delete the job: ${refusal.message}`);
  await page.unroute(url);
  dropExpectedProblem(/net::ERR_CONNECTION_REFUSED/);
  expect((await server.api('GET', `/v1/jobs/${id}`)).status).toBe(200);
});

test('a job page opened without the key loads once the key is saved', async () => {
  const id = await submit({ ...regressionSpec, name: 'needs a key' });
  await waitForJob(server, id);
  await page.evaluate("localStorage.removeItem('gradloom.apiKey')");
  await page.goto(`${server.url}/#/jobs/${encodeURIComponent(id)}`);
  await page.reload();
  await expect.poll(() => page.textContent('#job-error')).toMatch(/^Could not load the job: .*enter an API key at the top of the page\)\.$/);
  expect(await page.isVisible('#delete-btn')).toBe(false);
  await page.fill('#api-key', KEY);
  await page.click('#key-form button[type=submit]');
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toBe('succeeded');
  expect(await page.textContent('#job-title')).toBe('needs a key');
  expect(await page.textContent('#job-error')).toBe('');
  expect(await page.isVisible('#delete-btn')).toBe(true);
  // Focus stays where the user typed.
  expect(await page.evaluate('document.activeElement?.closest("form")?.id')).toBe('key-form');
});

test('a slow job load overtaken by navigation does not replace the page the user went to', async () => {
  const slow = await submit({ ...regressionSpec, name: 'slow to load' });
  const fast = await submit({ ...regressionSpec, name: 'loads first' });
  await waitForJob(server, slow);
  await waitForJob(server, fast);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(`${server.url}/v1/jobs/${slow}`, async (route) => {
    await held;
    await route.fallback();
  });
  const requested = page.waitForRequest(`${server.url}/v1/jobs/${slow}`);
  await page.goto(`${server.url}/#/jobs/${encodeURIComponent(slow)}`);
  await requested;
  await page.goto(`${server.url}/#/jobs/${encodeURIComponent(fast)}`);
  await expect.poll(() => page.textContent('#job-title')).toBe('loads first');
  const answered = page.waitForEvent('requestfinished', (r) => r.url() === `${server.url}/v1/jobs/${slow}`);
  release();
  await answered;
  // A prediction's round trip starts after the slow answer arrived, so its result shows after that answer was handled.
  await page.fill('#predict-x', '[[1.5]]');
  await page.click('#predict-form button[type=submit]');
  await expect.poll(() => page.textContent('#predict-result')).toMatch(/^\[\[/);
  expect(await page.textContent('#job-title')).toBe('loads first');
  expect(browser.socketUrls.some((u) => u.includes(`/v1/jobs/${encodeURIComponent(slow)}/stream`))).toBe(false);
  await page.unrouteAll();
});

test('a submission whose answer was lost is retried as the same job, not a second one', async () => {
  await page.goto(`${server.url}/#/`);
  await page.click('button[data-preset=regression]');
  await page.fill('#f-name', 'submitted once');
  // The first POST reaches the server, which creates the job; the browser never sees the answer.
  let posts = 0;
  await page.route(`${server.url}/v1/jobs`, async (route) => {
    if (route.request().method() !== 'POST' || ++posts > 1) return route.fallback();
    await route.fetch();
    await route.abort('connectionreset');
  });
  await page.click('#submit-form button[type=submit]');
  await expect.poll(() => page.textContent('#form-error')).toMatch(/^Could not reach the server \(.+\)\. Submitting again is safe: it will not make a second job\.$/);
  expect(page.url()).toMatch(/#\/$/);
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/jobs\/[^/]+$/);
  const id = decodeURIComponent(/#\/jobs\/([^/]+)$/.exec(page.url())![1]);
  expect(posts).toBe(2);
  const list = (await (await server.api('GET', '/v1/jobs?limit=100')).json()) as { items: Array<{ id: string; name: string }> };
  expect(list.items.filter((j) => j.name === 'submitted once').map((j) => j.id)).toEqual([id]);
  await page.unrouteAll();
  dropExpectedProblem(/net::ERR_CONNECTION_RESET/);

  // After a success, the same form submitted again is a new job.
  await page.goto(`${server.url}/#/`);
  await page.fill('#f-name', 'submitted once');
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL((url) => url.hash.startsWith('#/jobs/') && !url.hash.endsWith(id));
  const again = (await (await server.api('GET', '/v1/jobs?limit=100')).json()) as { items: Array<{ name: string }> };
  expect(again.items.filter((j) => j.name === 'submitted once')).toHaveLength(2);
});

test('no script errors or CSP violations on the way', () => {
  expect(browser.problems).toEqual([]);
});
