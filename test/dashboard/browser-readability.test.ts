/**
 * What a new user found hard to read on the dashboard (issue 12), in real headless Chromium against the app with the
 * fake runtime and the real SQLite store. Finished jobs are written to the store directly, so each test controls
 * the exact losses, status and checkpoints it needs. Screenshots go to test-artifacts/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { makeTestApp, regressionSpec, twoLayerSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';
import { ARTIFACTS, launchDashboardBrowser, type DashboardBrowser } from './chromium.js';
import { storeJob, type StoredJob } from './stored-job.js';

let t: TestApp & { fake: FakeJobManager | null };
let url: string;
let browser: DashboardBrowser;
let page: Page;

beforeAll(async () => {
  t = await makeTestApp({ fake: { epochDelayMs: 40 } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
  browser = await launchDashboardBrowser();
  page = browser.page;
}, 120_000);

afterAll(async () => {
  // The page lets go of its streams and polls first, so closing the app never waits on the browser.
  await page?.goto('about:blank');
  await browser?.close();
  await t?.close();
});

const storedJob = (job: StoredJob) => storeJob(t.store, job);

async function openJob(id: string, status = /./) {
  await page.goto(`${url}/#/jobs/${encodeURIComponent(id)}`);
  await expect.poll(() => page.getAttribute('#job-status', 'data-status')).toMatch(status);
}

/** Loss falling from 1 to 1e-7 over `n` epochs, evenly in log: seven decades. */
const sevenDecades = (n: number) => Array.from({ length: n }, (_, i) => 10 ** ((-7 * i) / (n - 1)));

test('a loss curve over seven decades opens on the log scale, one label per decade and no band of grid lines', async () => {
  const id = await storedJob({ spec: { ...regressionSpec, name: 'seven decades', training: { ...regressionSpec.training, epochs: 600 } }, losses: sevenDecades(600) });
  await openJob(id, /succeeded/);
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('600');
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-scale')).toBe('log');
  expect(await page.isChecked('#log-toggle')).toBe(true);
  const labels = JSON.parse((await page.getAttribute('#loss-chart', 'data-y-ticks'))!) as string[];
  // Every label distinct, none rounded to "0", and the decades of the curve's ends are labelled.
  expect(new Set(labels).size).toBe(labels.length);
  expect(labels).not.toContain('0');
  expect(labels).toContain('1');
  expect(labels.length).toBeGreaterThanOrEqual(4);
  expect(Math.min(...labels.map(Number))).toBeLessThanOrEqual(1e-6);
  for (const label of labels) expect(Number(label)).toBeGreaterThan(0);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-log-seven-decades.png'), fullPage: false });

  // The horizontal grid: at a few columns of the plot, count the rows painted in the grid's grey. One line per
  // labelled decade is a handful of rows; the minor lines of seven decades (2×..9× each) painted a band.
  const greyRows = (await page.evaluate(`(() => {
    const canvas = document.querySelector('#loss-chart canvas');
    const { width, height } = canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    const counts = [0.55, 0.7, 0.85].map((f) => {
      const x = Math.floor(width * f);
      let rows = 0;
      for (let y = 0; y < height; y++) {
        const i = (y * width + x) * 4;
        if (data[i + 3] > 0 && Math.abs(data[i] - 227) < 12 && Math.abs(data[i + 1] - 227) < 12 && Math.abs(data[i + 2] - 227) < 12) rows++;
      }
      return rows;
    });
    return Math.min(...counts);
  })()`)) as number;
  expect(greyRows).toBeGreaterThan(0);
  expect(greyRows).toBeLessThanOrEqual(2 * labels.length);

  // A curve within one decade opens linear; the user's choice then holds (here: linear, for the seven decades too).
  const flat = await storedJob({ spec: { ...regressionSpec, name: 'flat' }, losses: Array.from({ length: 60 }, (_, i) => 1 / (i + 1)) });
  await openJob(flat, /succeeded/);
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('60');
  expect(await page.getAttribute('#loss-chart', 'data-scale')).toBe('linear');
  expect(await page.isChecked('#log-toggle')).toBe(false);
  await openJob(id, /succeeded/);
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('600');
  await page.uncheck('#log-toggle');
  expect(await page.getAttribute('#loss-chart', 'data-scale')).toBe('linear');
  await openJob(flat, /succeeded/);
  await openJob(id, /succeeded/);
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('600');
  expect(await page.getAttribute('#loss-chart', 'data-scale')).toBe('linear');
  // On the linear axis too, small values keep their digits.
  await page.check('#log-toggle');
  await page.uncheck('#log-toggle');
});

test('at 390 px wide the job list and a job page fit the screen: no sideways scrolling, every column visible', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await storedJob({ spec: { ...regressionSpec, name: 'a-rather-long-job-name-without-any-spaces-in-it' }, losses: [1.7931e-7, 1.793e-7] });
    const wide = await storedJob({ spec: { ...twoLayerSpec, name: undefined }, status: 'cancelled', losses: sevenDecades(300), epochs: 100_000 });
    await page.goto(`${url}/#/`);
    await expect.poll(() => page.locator(`tr[data-job-id="${wide}"] .badge`).textContent()).toBe('cancelled');
    const overflow = async () =>
      (await page.evaluate(`(() => {
        const doc = document.documentElement;
        const out = [...document.querySelectorAll('body *')]
          // What a scrolling box holds may reach past the screen: the box itself may not.
          .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.parentElement?.closest('.table-scroll'))
          .map((el) => [el.id || el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''), Math.round(el.getBoundingClientRect().right)])
          .filter(([, right]) => right > window.innerWidth);
        return { scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, out: out.slice(0, 10) };
      })()`)) as { scrollWidth: number; innerWidth: number; out: Array<[string, number]> };
    const list = await overflow();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390-list.png'), fullPage: true });
    expect(list.out).toEqual([]);
    expect(list.scrollWidth).toBeLessThanOrEqual(390);
    // All five columns of a row are on screen.
    const cells = (await page.evaluate(`[...document.querySelectorAll('tr[data-job-id="${wide}"] td')].map((td) => { const r = td.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.right)]; })`)) as Array<[number, number]>;
    expect(cells).toHaveLength(5);
    for (const [left, right] of cells) {
      expect(left).toBeGreaterThanOrEqual(0);
      expect(right).toBeLessThanOrEqual(390);
    }

    await openJob(wide, /cancelled/);
    await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('300');
    const job = await overflow();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390-job.png'), fullPage: true });
    expect(job.out).toEqual([]);
    expect(job.scrollWidth).toBeLessThanOrEqual(390);

    // The comparison too: its wide table scrolls inside its own box, the page does not.
    const named = await storedJob({ spec: { ...regressionSpec, name: 'second of two' }, losses: [1, 0.5] });
    await page.goto(`${url}/#/compare?ids=${wide},${named}`);
    await expect.poll(() => page.getAttribute('#compare-chart', 'data-series')).toBe('2');
    const compare = await overflow();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390-compare.png'), fullPage: true });
    expect(compare.out).toEqual([]);
    expect(compare.scrollWidth).toBeLessThanOrEqual(390);
  } finally {
    await page.setViewportSize({ width: 1200, height: 900 });
  }
});

test("a job page's hover readout starts fresh: nothing read from the last job's chart", async () => {
  const first = await storedJob({ spec: { ...regressionSpec, name: 'first' }, losses: sevenDecades(3000) });
  const second = await storedJob({ spec: { ...regressionSpec, name: 'second' }, losses: [3, 2, 1] });
  await openJob(first, /succeeded/);
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points'), { timeout: 15_000 }).toBe('3000');
  const over = (await page.locator('#loss-chart .u-over').boundingBox())!;
  await page.mouse.move(over.x + over.width * 0.99, over.y + over.height / 2);
  await expect.poll(() => page.textContent('#hover-readout')).toMatch(/^epoch 29\d\d · loss \S+e-7$/);
  await page.mouse.move(0, 0);
  await page.click('text=← All jobs');
  await page.click(`tr[data-job-id="${second}"] a`);
  await expect.poll(() => page.textContent('#job-title')).toBe('second');
  await expect.poll(() => page.getAttribute('#loss-chart', 'data-points')).toBe('3');
  expect(await page.textContent('#hover-readout')).toBe('Hover or focus the chart and use ← → for epoch and loss');
  await page.focus('#loss-chart');
  await page.keyboard.press('End');
  expect(await page.textContent('#hover-readout')).toBe('epoch 3 · loss 1');
});

/** "about 9.3 s left" → 9300. */
function etaMs(status: string): number | null {
  const m = /about (?:(\d+) h )?(?:(\d+) min )?(?:([\d.]+) s|(\d+) ms) left/.exec(status);
  if (!m) return null;
  return (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000 + Number(m[4] ?? 0);
}

test('the ETA of a job opened mid-run counts down steadily (the replayed epochs do not skew it)', async () => {
  // The fake runtime spaces epochs 40 ms apart: 300 epochs take 12 s or more.
  const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...twoLayerSpec, name: 'eta', training: { ...twoLayerSpec.training, epochs: 300 } }) });
  const { id } = (await res.json()) as { id: string };
  await expect.poll(async () => ((await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { epoch: number }).epoch, { timeout: 20_000 }).toBeGreaterThanOrEqual(60);
  await page.goto(`${url}/#/jobs/${encodeURIComponent(id)}`);
  await page.evaluate(`{
    window.etaSeen = [];
    const el = document.getElementById('job-status');
    new MutationObserver(() => window.etaSeen.push([performance.now(), el.textContent])).observe(el, { childList: true, characterData: true, subtree: true });
  }`);
  await page.waitForTimeout(4000);
  const seen = ((await page.evaluate('window.etaSeen')) as Array<[number, string]>)
    .map(([at, text]) => [at, etaMs(text), Number(/epoch (\d+) of/.exec(text)?.[1])] as const)
    .filter((s): s is readonly [number, number, number] => s[1] !== null);
  expect(seen.length).toBeGreaterThan(20);
  // The pace of the epochs the page saw arrive (the fake runtime is steady): what the ETA should say.
  const [t0, , e0] = seen[0];
  const [t1, , e1] = seen.at(-1)!;
  const msPerEpoch = (t1 - t0) / (e1 - e0);
  // The machine is shared, so the pace itself wavers; the bounds leave room for that, not for the replayed epochs
  // counting as instant ones (which read 84 ms where 10 s was left, then climbed for seconds).
  for (const [, eta, epoch] of seen) {
    const truth = (300 - epoch) * msPerEpoch;
    expect(eta, `ETA at epoch ${epoch}: ${eta} ms, the pace says ${Math.round(truth)} ms`).toBeGreaterThan(truth * 0.5);
    expect(eta).toBeLessThan(truth * 2);
  }
  // No jumps up: from one reading to the next the ETA never rises by half (a stall of the runtime may add some).
  for (let i = 1; i < seen.length; i++) expect(seen[i][1]).toBeLessThanOrEqual(seen[i - 1][1] * 1.5 + 200);
  await fetch(`${url}/v1/jobs/${id}/cancel`, { method: 'POST' });
  await expect.poll(() => page.getAttribute('#job-status', 'data-status'), { timeout: 10_000 }).toBe('cancelled');
}, 60_000);

test('the fitted line appears even when the page first asked for checkpoints before there were any', async () => {
  t.fake!.paused = true;
  const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...regressionSpec, name: 'late line', checkpointEvery: 5 }) });
  const { id } = (await res.json()) as { id: string };
  // The page's first GET /checkpoints is answered as the server saw it then (none), but only after the job ended.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let first = true;
  const listUrl = `${url}/v1/jobs/${id}/checkpoints`;
  await page.route(listUrl, async (route) => {
    if (!first) return route.fallback();
    first = false;
    const response = await route.fetch();
    await held;
    // The page may be gone by then (a failed test moved on): nothing to answer.
    await route.fulfill({ response }).catch(() => undefined);
  });
  try {
    await openJob(id, /queued/);
    expect(await page.textContent('#fit-caption')).toBe('The fitted line appears with the first checkpoint (this job keeps one every 5 epochs).');
    // Once the job has ended the page reads it again and asks for the line (that request meets the held one).
    const ended = page.waitForResponse(async (r) => r.url() === `${url}/v1/jobs/${id}` && ((await r.json()) as { status: string }).status === 'succeeded', { timeout: 30_000 });
    t.fake!.resume();
    await ended;
    await page.waitForTimeout(200);
    expect(await page.getAttribute('#fit-chart', 'data-fit')).toBe('none');
    release();
    await expect.poll(() => page.getAttribute('#fit-chart', 'data-fit')).toBe('final-60');
    expect(await page.textContent('#fit-caption')).toBe('Line from the final checkpoint at epoch 60: y = 60·x + 0.5');
  } finally {
    release();
    await page.unrouteAll();
  }
});

test("the Predict box starts with a row of the model's width and says the shape it takes", async () => {
  const regression = await storedJob({ spec: regressionSpec, losses: [1, 0.5], checkpoints: [{ epoch: 2, kind: 'final' }] });
  await openJob(regression, /succeeded/);
  expect(await page.inputValue('#predict-x')).toBe('[[3.3]]');
  expect(await page.textContent('#predict-shape')).toBe('Each row has 1 number (model.inputDim); the answer has 1 per row. Filled in with the first training row.');

  const wide = await storedJob({ spec: { ...twoLayerSpec, model: { kind: 'linear_regression', inputDim: 1000, outputDim: 10 } }, losses: [1, 0.5], checkpoints: [{ epoch: 2, kind: 'final' }] });
  await openJob(wide, /succeeded/);
  const x = JSON.parse(await page.inputValue('#predict-x')) as number[][];
  expect(x).toEqual([new Array(1000).fill(0)]);
  expect(await page.textContent('#predict-shape')).toBe('Each row has 1000 numbers (model.inputDim); the answer has 10 per row. Filled in with zeros.');
  expect(await page.getAttribute('#predict-x', 'aria-describedby')).toBe('predict-shape');
  // As it stands, it predicts.
  await page.click('#predict-form button[type=submit]');
  await expect.poll(() => page.textContent('#predict-result')).toBe(JSON.stringify([new Array(10).fill(0)]));
});

test('Download checkpoint: a cancelled job downloads the checkpoint it lists, and without one the page says why', async () => {
  const kept = await storedJob({ spec: { ...regressionSpec, name: 'cancelled, kept' }, status: 'cancelled', losses: [3, 2, 1], epochs: 60, checkpoints: [{ epoch: 3, kind: 'periodic' }] });
  await openJob(kept, /cancelled/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-btn')]);
  expect(download.suggestedFilename()).toBe(`${kept}-epoch3.safetensors`);
  const saved = join(ARTIFACTS, `dashboard-cancelled-${download.suggestedFilename()}`);
  await download.saveAs(saved);
  const served = new Uint8Array(await (await fetch(`${url}/v1/jobs/${kept}/checkpoint?epoch=3`)).arrayBuffer());
  expect(new Uint8Array(readFileSync(saved))).toEqual(served);

  const none = await storedJob({ spec: { ...regressionSpec, name: 'cancelled, none' }, status: 'cancelled', losses: [3, 2, 1], epochs: 60 });
  await openJob(none, /cancelled/);
  await page.click('#download-btn');
  await expect
    .poll(() => page.textContent('#action-status'))
    .toBe('This job was cancelled at epoch 3 of 60 before it kept a checkpoint, so there are no weights to download.');
  expect(await page.textContent('#fit-caption')).toBe('This job ended (cancelled) without a checkpoint, so there is no fitted line.');
});

test('a job without a name shows its model and a short id, and its full id once', async () => {
  const id = await storedJob({ spec: { ...regressionSpec, name: undefined }, losses: [2, 1] });
  await page.goto(`${url}/#/`);
  const link = page.locator(`tr[data-job-id="${id}"] a`);
  await expect.poll(() => link.textContent()).toBe(`linear_regression · ${id.slice(0, 8)}`);
  expect(await link.getAttribute('title')).toBe(id);
  expect(await page.locator('#jobs-table').innerText()).not.toContain(id);
  await link.click();
  await expect.poll(() => page.textContent('#job-title')).toBe(`linear_regression · ${id.slice(0, 8)}`);
  const text = await page.locator('#job-view').innerText();
  expect(text.split(id).length - 1).toBe(1);
  expect(await page.textContent('#job-id')).toBe(id);
});

test('no script errors or CSP violations on the way', () => {
  expect(browser.problems).toEqual([]);
});
