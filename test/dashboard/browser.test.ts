/**
 * The dashboard in real headless Chromium (Debian's /usr/bin/chromium through playwright-core) against a real server
 * (embedded runtime, hardening with an API key and its CSP): submit the regression preset, watch the curve gain
 * points, see the fitted line, download the checkpoint, predict, and show API validation errors next to their
 * fields. Screenshots go to test-artifacts/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatLoss } from '../../public/js/format.js';
import { makeTestApp, twoLayerSpec } from '../helpers/app.js';
import { startLiveServer, waitForJob, type LiveServer } from '../helpers/live-server.js';
import { findAll, parseSvg, polylinePoints, series, type Node } from '../plots/svg-helpers.js';
import { ARTIFACTS, launchDashboardBrowser, type DashboardBrowser } from './chromium.js';

const KEY = 'dashboard-test-key-0123456789';

let server: LiveServer;
let browser: DashboardBrowser;
let page: Page;
let problems: string[];
let socketUrls: string[];

beforeAll(async () => {
  server = await startLiveServer({ apiKey: KEY });
  browser = await launchDashboardBrowser();
  ({ page, problems, socketUrls } = browser);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test('without a key the list says how to authenticate; with it the jobs load', async () => {
  await page.goto(server.url + '/');
  await expect.poll(() => page.textContent('#jobs-error')).toMatch(/send Authorization: Bearer <api key> \(enter an API key at the top of the page\)/);
  await page.fill('#api-key', KEY);
  await page.click('#key-form button[type=submit]');
  await expect.poll(() => page.textContent('#key-status')).toBe('Key saved.');
  await expect.poll(() => page.textContent('#jobs-error')).toBe('');
  expect(await page.evaluate("localStorage.getItem('gradloom.apiKey')")).toBe(KEY);
});

test('the regression preset: the curve gains points, the fitted line appears, the checkpoint downloads', async () => {
  // One worker: a long job holds it, so the regression waits in the queue and the page sees it from epoch 0.
  const blocker = (await (await server.api('POST', '/v1/jobs', { ...twoLayerSpec, name: 'blocker', training: { ...twoLayerSpec.training, epochs: 100_000 } })).json()) as { id: string };
  await waitForJob(server, blocker.id, (j) => j.status === 'running');

  await page.click('button[data-preset=regression]');
  expect(await page.inputValue('#f-name')).toBe('tutorial: linear regression');
  expect(await page.isVisible('#f-hidden-dim')).toBe(false); // two-layer fields hide for a regression
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/jobs\/[^/]+$/);
  const id = decodeURIComponent(/#\/jobs\/([^/]+)$/.exec(page.url())![1]);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toBe('queued');
  expect(await page.getAttribute('#loss-chart', 'data-points')).toBe('0');
  expect(await page.isVisible('#fit-chart')).toBe(true);
  expect(await page.getAttribute('#fit-chart', 'data-fit')).toBe('none');
  // Browser-side code as strings: this file is type-checked against Node's globals, not the DOM's.
  await page.evaluate(`{
    const el = document.getElementById('loss-chart');
    window.seenPoints = [];
    new MutationObserver(() => window.seenPoints.push(Number(el.getAttribute('data-points')))).observe(el, { attributes: true, attributeFilter: ['data-points'] });
  }`);

  await server.api('POST', `/v1/jobs/${blocker.id}/cancel`);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status'), { timeout: 60_000 }).toBe('succeeded');
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('60');
  const seen = (await page.evaluate('window.seenPoints')) as number[];
  expect(seen.at(-1)).toBe(60);
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
  expect(await page.textContent('#job-status')).toMatch(/^succeeded · epoch 60 of 60 · loss \S+$/);
  // The stream authenticated with a short-lived stream token in ?access_token=, not with the key itself.
  const streamUrl = new URL(socketUrls.find((u) => u.includes(`/v1/jobs/${encodeURIComponent(id)}/stream`))!);
  expect(streamUrl.searchParams.get('access_token')).toMatch(/./);
  expect(streamUrl.href).not.toContain(KEY);

  // The fitted line is the final checkpoint's.
  await expect.poll(() => page.getAttribute('#fit-chart', 'data-fit'), { timeout: 20_000 }).toBe('final-60');
  const state = (await (await server.api('GET', `/v1/jobs/${id}/checkpoint?format=json`)).json()) as {
    tensors: { weight: { data: number[][] }; bias: { data: number[] } };
  };
  const w = state.tensors.weight.data[0][0];
  const b = state.tensors.bias.data[0];
  expect(await page.textContent('#fit-caption')).toBe(`Line from the final checkpoint at epoch 60: y = ${formatLoss(w)}·x + ${formatLoss(b)}`);
  // uPlot drew the points and the line on its canvas: the plot area is not blank.
  const inked = (await page.evaluate(`(() => {
    const canvas = document.querySelector('#fit-chart canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let blue = 0;
    let orange = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < 60 && data[i + 1] > 70 && data[i + 1] < 120 && data[i + 2] > 160) blue++;
      if (data[i] > 150 && data[i + 1] > 50 && data[i + 1] < 100 && data[i + 2] < 40) orange++;
    }
    return { blue, orange };
  })()`)) as { blue: number; orange: number };
  expect(inked.blue).toBeGreaterThan(200); // the fitted line (#1f5fbf)
  expect(inked.orange).toBeGreaterThan(15 * 20); // fifteen points (#b34700)

  // Hover and keyboard both read out epoch and loss.
  const over = (await page.locator('#loss-chart .u-over').boundingBox())!;
  await page.mouse.move(over.x + over.width / 2, over.y + over.height / 2);
  await expect.poll(() => page.textContent('#hover-readout')).toMatch(/^epoch \d+ · loss \S+$/);
  const metrics = (await (await server.api('GET', `/v1/jobs/${id}/metrics`)).json()) as { epochs: Array<{ loss: number }> };
  await page.focus('#loss-chart');
  await page.keyboard.press('End');
  expect(await page.textContent('#hover-readout')).toBe(`epoch 60 · loss ${formatLoss(metrics.epochs[59].loss)}`);
  await page.keyboard.press('ArrowLeft');
  expect(await page.textContent('#hover-readout')).toBe(`epoch 59 · loss ${formatLoss(metrics.epochs[58].loss)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job.png'), fullPage: true });

  // Log scale: the chart is rebuilt with the same points.
  await page.check('#log-toggle');
  await expect.poll(() => page.locator('#loss-chart .u-axis').count()).toBeGreaterThan(0);
  expect(await page.getAttribute('#loss-chart', 'data-points')).toBe('60');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job-log.png'), fullPage: false });
  await page.uncheck('#log-toggle');

  // Download: the browser saves the same bytes the API serves.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-btn')]);
  expect(download.suggestedFilename()).toBe(`${id}.safetensors`);
  const saved = join(ARTIFACTS, `dashboard-${download.suggestedFilename()}`);
  await download.saveAs(saved);
  const served = new Uint8Array(await (await server.api('GET', `/v1/jobs/${id}/checkpoint`)).arrayBuffer());
  expect(new Uint8Array(readFileSync(saved))).toEqual(served);
  await expect.poll(() => page.textContent('#action-status')).toBe(`Downloaded ${id}.safetensors (${served.byteLength} bytes).`);
  expect(await page.isDisabled('#cancel-btn')).toBe(true);

  // The server-made SVGs download with the key too.
  for (const [button, name, check] of [
    ['#loss-svg-btn', `${id}-loss.svg`, (root: Node) => expect(polylinePoints(series(root, 'loss'))).toHaveLength(60)],
    ['#fit-svg-btn', `${id}-fit.svg`, (root: Node) => expect(findAll(series(root, 'training data'), (n) => n.name === 'circle')).toHaveLength(15)],
  ] as const) {
    const [svgDownload] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    expect(svgDownload.suggestedFilename()).toBe(name);
    const file = join(ARTIFACTS, `dashboard-${name}`);
    await svgDownload.saveAs(file);
    check(parseSvg(readFileSync(file, 'utf8')));
  }

  // Predictions, and a wrong width explained next to the box.
  await page.fill('#predict-x', '[[1.5], [7]]');
  await page.click('#predict-form button[type=submit]');
  const expected = (await (await server.api('POST', `/v1/jobs/${id}/predictions`, { x: [[1.5], [7]] })).json()) as { y: number[][] };
  await expect.poll(() => page.textContent('#predict-result')).toBe(JSON.stringify(expected.y));
  await page.fill('#predict-x', '[[1, 2]]');
  await page.click('#predict-form button[type=submit]');
  await expect.poll(() => page.textContent('#err-predict-x')).toBe('x.0: x[0] has 2 values but model.inputDim is 1');
  expect(await page.getAttribute('#predict-x', 'aria-invalid')).toBe('true');

  // Back to the list: the job is there with its final numbers.
  await page.click('text=← All jobs');
  const row = page.locator(`tr[data-job-id="${id}"]`);
  await expect.poll(() => row.locator('.badge').textContent()).toBe('succeeded');
  expect(await row.locator('.progress-text').textContent()).toBe(' 60/60');
  const job = (await (await server.api('GET', `/v1/jobs/${id}`)).json()) as { lastLoss: number };
  expect(await row.locator('td').nth(3).textContent()).toBe(formatLoss(job.lastLoss));
});

test("the API's validation errors appear next to the fields they concern", async () => {
  await page.goto(server.url + '/#/');
  await page.click('button[data-preset=regression]');
  // Invalid JSON never reaches the API: the form says where.
  await page.fill('#f-data-x', '[[3.3], [4.4]');
  await page.click('#submit-form button[type=submit]');
  await expect.poll(() => page.textContent('#err-data-x')).toMatch(/^not valid JSON/);
  expect(await page.getAttribute('#f-data-x', 'aria-invalid')).toBe('true');
  expect(await page.getAttribute('#f-data-x', 'aria-describedby')).toBe('err-data-x');

  await page.click('button[data-preset=regression]');
  await page.fill('#f-lr', '-1');
  await page.fill('#f-input-dim', 'abc');
  await page.fill('#f-epochs', '0');
  await page.click('#submit-form button[type=submit]');
  await expect.poll(() => page.locator('#submit-form .field-error').count()).toBe(3);
  expect(await page.textContent('#err-training-optimizer-lr')).toMatch(/./);
  expect(await page.textContent('#err-model-inputDim')).toMatch(/./);
  expect(await page.textContent('#err-training-epochs')).toMatch(/./);
  // The messages are the API's own (what it answers for the same body).
  const res = await server.api('POST', '/v1/jobs', {
    name: 'tutorial: linear regression',
    model: { kind: 'linear_regression', inputDim: 'abc', outputDim: 1 },
    data: { kind: 'inline', x: [[1]], y: [[1]] },
    training: { epochs: 0, loss: 'mse', optimizer: { kind: 'sgd', lr: -1 } },
    seed: 0,
  });
  const issues = ((await res.json()) as { issues: Array<{ path: string; message: string }> }).issues;
  expect(await page.textContent('#err-training-optimizer-lr')).toBe(issues.find((i) => i.path === 'training.optimizer.lr')!.message);
  expect(await page.getAttribute('#f-lr', 'aria-invalid')).toBe('true');
  // Focus goes to the first field with a problem, so keyboard users land on it.
  expect(await page.evaluate('document.activeElement?.id')).toBe('f-input-dim');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-form-errors.png'), fullPage: true });
});

test('the Cancel button stops a running job and the page shows it', async () => {
  await page.goto(server.url + '/#/');
  const long = (await (await server.api('POST', '/v1/jobs', { ...twoLayerSpec, name: 'to cancel', training: { ...twoLayerSpec.training, epochs: 100_000 } })).json()) as { id: string };
  await waitForJob(server, long.id, (j) => j.status === 'running' && j.epoch >= 1);
  await page.click(`tr[data-job-id="${long.id}"] a`);
  await expect.poll(async () => Number(await page.getAttribute('#loss-chart', 'data-points'))).toBeGreaterThan(0);
  expect(await page.isEnabled('#cancel-btn')).toBe(true);
  await page.click('#cancel-btn');
  await expect.poll(() => page.getAttribute('#job-status', 'data-status'), { timeout: 30_000 }).toBe('cancelled');
  expect(await page.textContent('#action-status')).toMatch(/^(Cancelled\.|Cancel requested: the job stops at the end of its current epoch\.)$/);
  expect(await page.isDisabled('#cancel-btn')).toBe(true);
  expect(await page.textContent('#job-announce')).toMatch(/^cancelled · epoch \d+ of 100000/);
  const job = (await (await server.api('GET', `/v1/jobs/${long.id}`)).json()) as { status: string };
  expect(job.status).toBe('cancelled');
});

test('while a job trains, the curve grows in steps and the line is redrawn from each new checkpoint', async () => {
  // The fake runtime (test/helpers/fake-manager.ts) spaces epochs 100 ms apart and writes weight = epoch into each
  // checkpoint, so the page has time to show intermediate states and each line is told apart by its epoch.
  const t = await makeTestApp({ fake: { epochDelayMs: 100 } });
  try {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
    await page.goto(url + '/#/');
    // This server has no stream-token endpoint (no hardening plugins): the page falls back to the key itself.
    await page.fill('#api-key', 'fallback-key');
    await page.click('#key-form button[type=submit]');
    await page.click('button[data-preset=regression]');
    await page.click('#submit-form button[type=submit]');
    await page.waitForURL(/#\/jobs\/[^/]+$/);
    const jobId = decodeURIComponent(/#\/jobs\/([^/]+)$/.exec(page.url())![1]);
    await expect.poll(() => socketUrls.find((u) => u.includes(`/v1/jobs/${encodeURIComponent(jobId)}/stream`))).toBeTruthy();
    const fallbackUrl = new URL(socketUrls.find((u) => u.includes(`/v1/jobs/${encodeURIComponent(jobId)}/stream`))!);
    expect(fallbackUrl.searchParams.get('access_token')).toBe('fallback-key');
    await page.evaluate(`{
      window.seen = { points: [], fit: [] };
      const chart = document.getElementById('loss-chart');
      const fit = document.getElementById('fit-chart');
      new MutationObserver(() => window.seen.points.push(Number(chart.getAttribute('data-points')))).observe(chart, { attributes: true, attributeFilter: ['data-points'] });
      new MutationObserver(() => window.seen.fit.push(fit.getAttribute('data-fit'))).observe(fit, { attributes: true, attributeFilter: ['data-fit'] });
    }`);
    await expect.poll(async () => Number(await page.getAttribute('#loss-chart', 'data-points')), { timeout: 30_000 }).toBeGreaterThanOrEqual(25);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job-training.png'), fullPage: true });
    await expect.poll(() => page.getAttribute('#fit-chart', 'data-fit'), { timeout: 30_000 }).toBe('final-60');
    const seen = (await page.evaluate('window.seen')) as { points: number[]; fit: string[] };
    const partial = new Set(seen.points.filter((n) => n > 0 && n < 60));
    expect(partial.size).toBeGreaterThanOrEqual(3);
    expect(seen.points.at(-1)).toBe(60);
    const periodic = seen.fit.filter((f) => /^periodic-\d+$/.test(f)).map((f) => Number(f.split('-')[1]));
    expect(periodic.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < periodic.length; i++) expect(periodic[i]).toBeGreaterThan(periodic[i - 1]);
    expect(periodic.every((e) => e % 5 === 0)).toBe(true);
    expect(seen.fit.at(-1)).toBe('final-60');
    expect(await page.textContent('#fit-caption')).toBe('Line from the final checkpoint at epoch 60: y = 60·x + 0.5');
  } finally {
    // The page lets go of its stream and poll first, so closing this app never waits on the browser.
    await page.goto('about:blank');
    await t.close();
  }
  // Two 30 s waits by design (each normally a few seconds): the budget must cover both.
}, 120_000);

test('the jobs list pages with "Show more" and keeps following the cursors on refresh', async () => {
  const t = await makeTestApp();
  try {
    t.fake!.paused = true; // queued jobs stay put
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
    const ids: string[] = [];
    for (let i = 0; i < 55; i++) {
      const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...twoLayerSpec, name: `job ${i}` }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    await page.goto(url + '/#/');
    await expect.poll(() => page.locator('#jobs-table tbody tr').count()).toBe(50);
    expect(await page.getAttribute('#jobs-table tbody tr:first-child', 'data-job-id')).toBe(ids[54]);
    expect(await page.isVisible('#jobs-more')).toBe(true);
    await page.click('#jobs-more');
    await expect.poll(() => page.locator('#jobs-table tbody tr').count()).toBe(55);
    expect(await page.getAttribute('#jobs-table tbody tr:last-child', 'data-job-id')).toBe(ids[0]);
    expect(await page.isVisible('#jobs-more')).toBe(false);
    expect(await page.locator('#jobs-table tbody tr:last-child .badge').textContent()).toBe('queued');
  } finally {
    await page.goto('about:blank');
    await t.close();
  }
});

test('no script errors or CSP violations on the way', () => {
  expect(problems).toEqual([]);
});
