/**
 * Tenancy through every route: with two keys, each of Alice's resources (job, its stream, checkpoints,
 * predictions, dataset) is a 404 for Bob, exactly as if it did not exist, while the same request with Alice's key
 * is not a 404 (so the URLs are right and the 404 is about ownership). The routes are enumerated from the app, so
 * a route added later is covered without editing this test. The real runtime runs the jobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE_KEY, auth, BOB_KEY, makeHardenedApp, realManager, TWO_TENANTS, waitForJob, type HardenedApp } from './service.js';

let h: HardenedApp;
let jobId: string;
let datasetId: string;
const spec = {
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: { kind: 'inline', x: [[1], [2], [3]], y: [[2], [4], [6]] },
  training: { epochs: 4, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
  checkpointEvery: 2,
  seed: 1,
};

beforeAll(async () => {
  h = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS }, manager: realManager(1) });
  const job = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth(ALICE_KEY), payload: spec });
  expect(job.statusCode).toBe(201);
  jobId = job.json().id;
  await waitForJob(h.app, ALICE_KEY, jobId);
  const ds = await h.app.inject({
    method: 'POST',
    url: '/v1/datasets',
    headers: auth(ALICE_KEY),
    payload: { x: [[1], [2]], y: [[1], [2]] },
  });
  expect(ds.statusCode).toBe(201);
  datasetId = ds.json().id;
});
afterAll(async () => h?.close());

function fill(url: string): string {
  const isDataset = url.startsWith('/v1/datasets');
  return url
    .replace(':id', encodeURIComponent(isDataset ? datasetId : jobId))
    .replace(/:epoch\b/, '2')
    .replace(/:(\w+)/g, '1');
}

function bodyFor(url: string): unknown {
  if (url.endsWith('/predictions')) return { x: [[1.5]] };
  return undefined;
}

describe('two tenants', () => {
  it('enumerates the tenant-owned routes', () => {
    const owned = h.routes.filter((r) => r.url.startsWith('/v1/') && r.url.includes(':id'));
    // jobs: get, metrics, cancel, delete, stream, checkpoint(s), predictions; datasets: get, delete.
    expect(owned.length).toBeGreaterThanOrEqual(9);
  });

  it("answers 404 to Bob on every route that names one of Alice's resources, and not to Alice", async () => {
    const owned = h.routes.filter((r) => r.url.startsWith('/v1/') && r.url.includes(':id'));
    const checked: string[] = [];
    // DELETE last: Alice's control request would delete what later checks need.
    const ordered = [...owned.filter((r) => r.method !== 'DELETE'), ...owned.filter((r) => r.method === 'DELETE')];
    for (const route of ordered) {
      const url = fill(route.url);
      if (route.websocket || (route.method === 'GET' && route.url.endsWith('/stream'))) {
        await expect(h.app.injectWS(url, { headers: auth(BOB_KEY) })).rejects.toThrow(/Unexpected server response: 404/);
        const ws = await h.app.injectWS(url, { headers: auth(ALICE_KEY) });
        ws.terminate();
        checked.push(`WS ${route.url}`);
        continue;
      }
      const body = bodyFor(route.url);
      const bob = await h.app.inject({ method: route.method as 'GET', url, headers: auth(BOB_KEY), ...(body ? { payload: body as object } : {}) });
      expect(bob.statusCode, `${route.method} ${url} as Bob: ${bob.body}`).toBe(404);
      if (route.method !== 'HEAD') {
        expect(bob.json().error).toBe('not_found');
        // The message must not hint that the resource exists for someone else.
        expect(bob.body).not.toMatch(/alice|tenant|forbidden|permission|owner/i);
      }
      if (route.method !== 'DELETE') {
        const alice = await h.app.inject({ method: route.method as 'GET', url, headers: auth(ALICE_KEY), ...(body ? { payload: body as object } : {}) });
        expect(alice.statusCode, `${route.method} ${url} as Alice: ${alice.body}`).not.toBe(404);
      }
      checked.push(`${route.method} ${route.url}`);
    }
    // Bob's DELETEs changed nothing.
    expect((await h.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}`, headers: auth(ALICE_KEY) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: `/v1/datasets/${datasetId}`, headers: auth(ALICE_KEY) })).statusCode).toBe(200);
    expect(checked.length).toBe(owned.length);
  });

  it("does not list Alice's jobs to Bob, nor let him train on her dataset or stream her job by token", async () => {
    const list = await h.app.inject({ method: 'GET', url: '/v1/jobs?limit=100', headers: auth(BOB_KEY) });
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([]);
    const mine = await h.app.inject({ method: 'GET', url: '/v1/jobs?limit=100', headers: auth(ALICE_KEY) });
    expect(mine.json().items.map((j: { id: string }) => j.id)).toContain(jobId);

    const onHerData = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth(BOB_KEY),
      payload: { ...spec, data: { kind: 'dataset', id: datasetId } },
    });
    expect(onHerData.statusCode).toBe(400);
    expect(onHerData.body).toContain(`dataset ${datasetId} not found`);

    const token = await h.app.inject({ method: 'POST', url: '/v1/stream-tokens', headers: auth(BOB_KEY), payload: { jobId } });
    expect(token.statusCode).toBe(404);
    // A tenant-wide token of Bob's does not open Alice's stream either.
    const wide = await h.app.inject({ method: 'POST', url: '/v1/stream-tokens', headers: auth(BOB_KEY) });
    expect(wide.statusCode).toBe(201);
    await expect(
      h.app.injectWS(`/v1/jobs/${jobId}/stream?access_token=${encodeURIComponent(wide.json().token)}`),
    ).rejects.toThrow(/Unexpected server response: 404/);
    // Alice's own token does.
    const hers = await h.app.inject({ method: 'POST', url: '/v1/stream-tokens', headers: auth(ALICE_KEY), payload: { jobId } });
    const ws = await h.app.injectWS(`/v1/jobs/${jobId}/stream?access_token=${encodeURIComponent(hers.json().token)}`);
    ws.terminate();
  });

  it('gives each tenant its own webhook signing secret, the same on every call', async () => {
    const secret = async (key: string) => {
      const res = await h.app.inject({ method: 'GET', url: '/v1/webhooks/secret', headers: auth(key) });
      expect(res.statusCode).toBe(200);
      return res.json().secret as string;
    };
    const alice = await secret(ALICE_KEY);
    expect(alice).toMatch(/^whsec_/);
    expect(await secret(ALICE_KEY)).toBe(alice);
    expect(await secret(BOB_KEY)).not.toBe(alice);
    expect((await h.app.inject({ method: 'GET', url: '/v1/webhooks/secret' })).statusCode).toBe(401);
  });

  it('gives the same job id space no meaning across tenants: Idempotency-Key is per tenant', async () => {
    const headers = { 'idempotency-key': 'same-key' };
    const a = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(ALICE_KEY), ...headers }, payload: spec });
    const b = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth(BOB_KEY), ...headers }, payload: spec });
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(a.json().id).not.toBe(b.json().id);
  });

  it('requires a key on every /v1 route, and says which header to send', async () => {
    const v1 = h.routes.filter((r) => r.url.startsWith('/v1') && !r.websocket);
    for (const route of v1) {
      const res = await h.app.inject({ method: route.method as 'GET', url: fill(route.url) });
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      if (route.method !== 'HEAD') expect(res.json()).toEqual({ error: 'unauthorized', message: 'send Authorization: Bearer <api key>' });
    }
    await expect(h.app.injectWS(`/v1/jobs/${jobId}/stream`)).rejects.toThrow(/Unexpected server response: 401/);
    for (const open of ['/healthz', '/readyz', '/openapi.json']) {
      expect((await h.app.inject({ method: 'GET', url: open })).statusCode, open).toBe(200);
    }
  });
});
