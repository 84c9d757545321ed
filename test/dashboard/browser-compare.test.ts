/**
 * Comparing runs and filtering the job list, in real headless Chromium against the app with the fake runtime and
 * the real SQLite store (jobs written to the store directly, with known losses and hyperparameters).
 */
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatLoss } from '../../public/js/format.js';
import { makeTestApp, regressionSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';
import { ARTIFACTS, launchDashboardBrowser, type DashboardBrowser } from './chromium.js';
import { storeJob } from './stored-job.js';

let t: TestApp & { fake: FakeJobManager | null };
let url: string;
let browser: DashboardBrowser;
let page: Page;

beforeAll(async () => {
  t = await makeTestApp();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
  browser = await launchDashboardBrowser();
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await page?.goto('about:blank');
  await browser?.close();
  await t?.close();
});

const withLr = (name: string, lr: number, epochs: number) => ({
  ...regressionSpec,
  name,
  training: { ...regressionSpec.training, epochs, optimizer: { kind: 'sgd', lr } },
});

test('pick jobs on the list and compare: curves overlaid, hyperparameters side by side with the differences marked', async () => {
  const slow = await storeJob(t.store, { spec: withLr('lr 0.001', 0.001, 40), losses: Array.from({ length: 40 }, (_, i) => 2 / (i + 1)) });
  const fast = await storeJob(t.store, { spec: withLr('lr 0.01', 0.01, 60), losses: Array.from({ length: 60 }, (_, i) => 10 ** (-i / 10)) });
  const other = await storeJob(t.store, { spec: withLr('not compared', 0.1, 5), losses: [1, 1, 1, 1, 1] });
  await page.goto(`${url}/#/`);
  await expect.poll(() => page.locator(`tr[data-job-id="${other}"]`).count()).toBe(1);
  expect(await page.isDisabled('#compare-btn')).toBe(true);
  await page.check(`tr[data-job-id="${slow}"] input.pick`);
  expect(await page.isDisabled('#compare-btn')).toBe(true);
  await page.check(`tr[data-job-id="${fast}"] input.pick`);
  expect(await page.getAttribute(`tr[data-job-id="${fast}"] input.pick`, 'aria-label')).toBe('Compare lr 0.01');
  // The ticks survive the list's refreshes.
  await page.waitForEvent('requestfinished', (r) => new URL(r.url()).pathname === '/v1/jobs');
  expect(await page.isChecked(`tr[data-job-id="${slow}"] input.pick`)).toBe(true);
  expect(await page.textContent('#compare-btn')).toBe('Compare selected (2)');
  await page.click('#compare-btn');
  await page.waitForURL(/#\/compare\?ids=/);
  expect(decodeURIComponent(new URL(page.url()).hash)).toBe(`#/compare?ids=${slow},${fast}`);

  const chart = page.locator('#compare-chart');
  await expect.poll(() => chart.getAttribute('data-series')).toBe('2');
  expect(await chart.getAttribute('data-points')).toBe('40,60');
  // The faster run falls six decades: the comparison opens on the log scale.
  expect(await chart.getAttribute('data-scale')).toBe('log');
  expect(await page.isChecked('#compare-log')).toBe(true);
  // Both curves are drawn, each in its colour.
  const inked = (await page.evaluate(`(() => {
    const canvas = document.querySelector('#compare-chart canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let blue = 0, orange = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < 60 && data[i + 1] > 70 && data[i + 1] < 120 && data[i + 2] > 160) blue++;
      if (data[i] > 150 && data[i + 1] > 50 && data[i + 1] < 100 && data[i + 2] < 40) orange++;
    }
    return { blue, orange };
  })()`)) as { blue: number; orange: number };
  expect(inked.blue).toBeGreaterThan(200);
  expect(inked.orange).toBeGreaterThan(200);

  const header = await page.locator('#compare-table thead th').allTextContents();
  expect(header).toEqual(['lr 0.001', 'lr 0.01']);
  const rowOf = async (label: string) => ({
    values: await page.locator(`#compare-table tr[data-row="${label}"] td`).allTextContents(),
    differs: (await page.getAttribute(`#compare-table tr[data-row="${label}"]`, 'class')) === 'differs',
  });
  expect(await rowOf('Learning rate')).toEqual({ values: ['0.001', '0.01'], differs: true });
  expect(await rowOf('Epochs')).toEqual({ values: ['40', '60'], differs: true });
  expect(await rowOf('Optimizer')).toEqual({ values: ['sgd', 'sgd'], differs: false });
  expect(await rowOf('Model')).toEqual({ values: ['linear_regression 1→1', 'linear_regression 1→1'], differs: false });
  expect(await rowOf('Data')).toEqual({ values: ['inline, 15 rows', 'inline, 15 rows'], differs: false });
  expect((await rowOf('Lowest loss')).values).toEqual([`${formatLoss(2 / 40)} at epoch 40`, `${formatLoss(10 ** (-59 / 10))} at epoch 60`]);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-compare.png'), fullPage: true });

  // The user's scale holds over a refresh; a job's header links to its page.
  await page.uncheck('#compare-log');
  expect(await chart.getAttribute('data-scale')).toBe('linear');
  await page.click('#compare-refresh');
  await expect.poll(() => page.textContent('#compare-status')).toMatch(/^2 jobs, loaded /);
  expect(await chart.getAttribute('data-scale')).toBe('linear');
  await page.click(`#compare-table thead a[title="${fast}"]`);
  await expect.poll(() => page.textContent('#job-title')).toBe('lr 0.01');
});

test('a compare link with a missing job says which, and shows the others', async () => {
  const a = await storeJob(t.store, { spec: withLr('a', 0.001, 3), losses: [3, 2, 1] });
  const b = await storeJob(t.store, { spec: withLr('b', 0.002, 3), losses: [3, 2, 1] });
  await page.goto(`${url}/#/compare?ids=${a},${b},nope`);
  await expect.poll(() => page.textContent('#compare-error')).toBe('Could not load one job: nope: job nope not found');
  expect(await page.getAttribute('#compare-chart', 'data-series')).toBe('2');
  await page.goto(`${url}/#/compare?ids=${a}`);
  await expect.poll(() => page.textContent('#compare-error')).toBe('Pick between 2 and 8 jobs to compare (this link has 1).');
});

test('the filters send ?name=&status=&tag= and the list shows only matching jobs', async () => {
  await storeJob(t.store, { spec: withLr('alpha run', 0.001, 2), losses: [2, 1] });
  await storeJob(t.store, { spec: withLr('beta run', 0.001, 2), status: 'cancelled', losses: [2, 1] });
  await storeJob(t.store, { spec: { ...withLr('alphabet', 0.001, 2), tags: ['baseline'] }, status: 'failed', losses: [2, 1] });
  await page.goto(`${url}/#/`);
  await expect.poll(() => page.locator('#jobs-table tbody tr').count()).toBeGreaterThanOrEqual(3);
  const names = () => page.locator('#jobs-table tbody tr td:first-child a').allTextContents();
  const listRequest = (check: (q: URLSearchParams) => boolean) =>
    page.waitForRequest((r: Request) => new URL(r.url()).pathname === '/v1/jobs' && check(new URL(r.url()).searchParams));

  let sent = listRequest((q) => q.get('name') === 'alpha');
  await page.fill('#filter-name', 'alpha');
  await sent;
  // The API filters (and the page filters what it gets again, for servers that ignore a parameter).
  await expect.poll(async () => (await names()).sort()).toEqual(['alpha run', 'alphabet']);

  sent = listRequest((q) => q.get('name') === 'alpha' && q.get('status') === 'failed');
  await page.selectOption('#filter-status', 'failed');
  await sent;
  await expect.poll(names).toEqual(['alphabet']);

  // A tag: sent, and the API answers only the jobs carrying it.
  sent = listRequest((q) => q.get('tag') === 'baseline' && q.get('status') === 'failed');
  await page.fill('#filter-tag', 'baseline');
  await sent;
  await expect.poll(names).toEqual(['alphabet']);

  await page.fill('#filter-name', 'nothing like it');
  await expect.poll(() => page.isVisible('#jobs-none-match')).toBe(true);
  expect(await page.isVisible('#jobs-empty')).toBe(false);

  // Clearing sends no filter parameters at all (an empty status would be a 400).
  sent = listRequest((q) => !q.has('name') && !q.has('status') && !q.has('tag'));
  await page.click('#filter-clear');
  await sent;
  await expect.poll(async () => (await names()).length).toBeGreaterThanOrEqual(3);
  expect(await page.textContent('#jobs-error')).toBe('');
});

test('validation losses (epochs with valLoss): a dashed second curve on the job page and in the comparison', async () => {
  const a = await storeJob(t.store, { spec: withLr('with validation', 0.01, 4), losses: [4, 3, 2, 1] });
  const b = await storeJob(t.store, { spec: withLr('without', 0.001, 4), losses: [4, 3.5, 3, 2.5] });
  const valLoss = [5, 4, 3.5, 3.25];
  // The fake runtime of these tests reports no validation: the stream and the metrics are answered as the real one does.
  await page.routeWebSocket(new RegExp(`/v1/jobs/${a}/stream`), (ws) => {
    valLoss.forEach((v, i) => ws.send(JSON.stringify({ type: 'epoch', epoch: i + 1, loss: 4 - i, valLoss: v })));
    ws.send(JSON.stringify({ type: 'status', status: 'succeeded', epoch: 4, epochs: 4, lastLoss: 1, error: null }));
    void ws.close();
  });
  await page.route(`${url}/v1/jobs/${a}/metrics`, async (route) => {
    const body = (await (await route.fetch()).json()) as { epochs: Array<Record<string, unknown>> };
    body.epochs.forEach((e, i) => (e.valLoss = valLoss[i]));
    await route.fulfill({ json: body });
  });
  try {
    await page.goto(`${url}/#/jobs/${a}`);
    await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('4');
    expect(await page.getAttribute('#loss-chart', 'data-series')).toBe('loss,validation');
    expect(await page.textContent('#job-status')).toBe('succeeded · epoch 4 of 4 · loss 1 · validation 3.25');
    await page.focus('#loss-chart');
    await page.keyboard.press('End');
    expect(await page.textContent('#hover-readout')).toBe('epoch 4 · loss 1 · validation 3.25');
    // Drawn in the validation colour (#b34700) as well as the loss colour.
    const orange = (await page.evaluate(`(() => {
      const canvas = document.querySelector('#loss-chart canvas');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] > 150 && data[i + 1] > 50 && data[i + 1] < 100 && data[i + 2] < 40) n++;
      return n;
    })()`)) as number;
    expect(orange).toBeGreaterThan(100);

    await page.goto(`${url}/#/compare?ids=${a},${b}`);
    await expect.poll(() => page.getAttribute('#compare-chart', 'data-validation')).toBe('1');
    const rows = await page.locator('#compare-table tr[data-row="Lowest validation loss"] td').allTextContents();
    expect(rows).toEqual(['3.25 at epoch 4', '—']);
  } finally {
    await page.unrouteAll();
    await page.goto('about:blank');
  }
});

test('no script errors or CSP violations on the way', () => {
  expect(browser.problems).toEqual([]);
});
