import request from 'supertest';
import { afterEach, expect, test } from 'vitest';
import { makeTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

test('healthz is always ok; readyz is ready until the server drains', async () => {
  t = await makeTestApp();
  expect((await request(t.app.server).get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
  expect((await request(t.app.server).get('/readyz').expect(200)).body).toEqual({
    status: 'ready',
    checks: { store: 'ok', pool: 'ok', server: 'ok' },
  });
  t.app.gradloom.state = 'draining';
  expect((await request(t.app.server).get('/readyz').expect(503)).body).toEqual({
    status: 'not_ready',
    checks: { store: 'ok', pool: 'ok', server: 'draining: shutting down' },
  });
});

test('readyz reports a store that fails and a pool that is not ready', async () => {
  t = await makeTestApp();
  const { store, manager } = t.app.gradloom;
  t.app.gradloom.store = Object.assign(Object.create(store), { ping: async () => Promise.reject(new Error('connection refused by a test')) });
  t.app.gradloom.manager = Object.assign(Object.create(manager), { ready: async () => ({ ready: false, reason: 'pool not started' }) });
  const res = await request(t.app.server).get('/readyz').expect(503);
  expect(res.body.checks).toEqual({ store: 'store query failed: connection refused by a test', pool: 'pool not started', server: 'ok' });
  // A store that cannot write (a full disk) is named as such.
  t.app.gradloom.store = Object.assign(Object.create(store), {
    ping: async () => Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })),
  });
  const full = await request(t.app.server).get('/readyz').expect(503);
  expect(full.body.checks.store).toBe(
    'the store cannot take writes: the disk holding the database is full (SQLITE_FULL: database or disk is full)',
  );
  t.app.gradloom.store = store;
  t.app.gradloom.manager = manager;
  t.app.gradloom.runtimeStarted = false;
  expect((await request(t.app.server).get('/readyz').expect(503)).body.checks.pool).toBe('the job runtime has not started');
});

test('GET /v1/limits returns the configured limits', async () => {
  t = await makeTestApp({ overrides: { limits: { maxEpochs: 77 } } });
  const res = await request(t.app.server).get('/v1/limits').expect(200);
  expect(res.body).toEqual({ ...t.app.gradloom.config.limits });
  expect(res.body.maxEpochs).toBe(77);
  expect(res.body.maxRunningJobs).toBe(2);
});

test('/docs serves the human documentation and /openapi.json the document', async () => {
  t = await makeTestApp();
  const docs = await request(t.app.server).get('/docs/').expect(200);
  expect(docs.headers['content-type']).toContain('text/html');
  expect(docs.text).toContain('swagger');
  const doc = await request(t.app.server).get('/openapi.json').expect(200);
  expect(doc.body.openapi).toBe('3.1.0');
  expect(Object.keys(doc.body.paths)).toContain('/v1/jobs/{id}/stream');
});
