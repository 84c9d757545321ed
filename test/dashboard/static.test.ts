/** The dashboard's files as the app serves them: the page, its modules, uPlot from node_modules, and nothing else. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.js';

const PUBLIC = join(import.meta.dirname, '../../public');
let t: TestApp;

beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(async () => {
  await t.close();
});

test('/ serves the page and /js/* its modules', async () => {
  const page = await request(t.app.server).get('/').expect(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.text).toContain('<script type="module" src="/js/app.js"></script>');
  const js = await request(t.app.server).get('/js/app.js').expect(200);
  expect(js.headers['content-type']).toMatch(/^(application|text)\/javascript/);
});

test('every module import and every file the page links resolves to a served file', async () => {
  const html = readFileSync(join(PUBLIC, 'index.html'), 'utf8');
  const urls = new Set([...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]));
  for (const file of readdirSync(join(PUBLIC, 'js')).filter((f) => f.endsWith('.js'))) {
    const source = readFileSync(join(PUBLIC, 'js', file), 'utf8');
    for (const m of source.matchAll(/^import .* from '([^']+)';$/gm)) urls.add(m[1].startsWith('/') ? m[1] : `/js/${m[1].replace(/^\.\//, '')}`);
  }
  expect(urls).toContain('/vendor/uplot/uPlot.esm.js');
  for (const url of urls) {
    const res = await request(t.app.server).get(url);
    expect(res.status, url).toBe(200);
  }
});

test('only the two uPlot files are exposed from node_modules; unknown files are a JSON 404', async () => {
  await request(t.app.server).get('/vendor/uplot/uPlot.min.css').expect(200);
  await request(t.app.server).get('/vendor/uplot/uPlot.cjs.js').expect(404);
  // Climbing out of the folder is refused by @fastify/static before any file is read.
  for (const path of ['/vendor/uplot/../package.json', '/vendor/uplot/%2e%2e/%2e%2e/package.json', '/%2e%2e/package.json']) {
    const res = await request(t.app.server).get(path);
    expect([403, 404], path).toContain(res.status);
    expect(res.body.error).toMatch(/^(fst_static_forbidden_path|forbidden|not_found)$/);
  }
  const missing = await request(t.app.server).get('/nope.html').expect(404);
  expect(missing.body.error).toBe('not_found');
  // The API's 404s are untouched by the static wildcard.
  const api = await request(t.app.server).get('/v1/nothing-here').expect(404);
  expect(api.body.error).toBe('not_found');
});

test('every form control in the page has a label (or an aria-label)', () => {
  const html = readFileSync(join(PUBLIC, 'index.html'), 'utf8');
  const labelled = new Set([...html.matchAll(/<label for="([^"]+)"/g)].map((m) => m[1]));
  const controls = [...html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)].map((m) => m[2]);
  expect(controls.length).toBeGreaterThan(15);
  for (const attrs of controls) {
    const id = /\bid="([^"]+)"/.exec(attrs)?.[1];
    const ok = (id !== undefined && labelled.has(id)) || /\baria-label="[^"]+"/.test(attrs);
    expect(ok, `control without a label: <${attrs.trim()}>`).toBe(true);
  }
  expect(html).toMatch(/<html lang="en">/);
  expect(html).toMatch(/role="status"[^>]*aria-live="polite"|aria-live="polite"[^>]*role="status"/);
});
