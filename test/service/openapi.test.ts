import { readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateOpenApi, OPENAPI_PATH, serializeOpenApi } from '../../scripts/gen-openapi.js';
import { KeyRing } from '../../src/service/auth/keys.js';
import { loadSecurityConfig } from '../../src/service/auth/security-config.js';
import { registerHardening } from '../../src/service/plugins/hardening.js';
import { validate } from '../helpers/json-schema.js';
import { makeTestApp, regressionSpec, twoLayerSpec, type TestApp } from '../helpers/app.js';
import type { FakeJobManager } from '../helpers/fake-manager.js';
import { listen, streamOf } from '../helpers/ws.js';

test('the committed openapi/openapi.json is what `npm run openapi` generates now', async () => {
  const fresh = serializeOpenApi(await generateOpenApi());
  const committed = readFileSync(OPENAPI_PATH, 'utf8');
  // On failure: run `npm run openapi` and commit openapi/openapi.json.
  expect(committed).toBe(fresh);
});

test('the document is sane: every operation has responses, and the WebSocket route is documented', async () => {
  const doc = (await generateOpenApi()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops)) expect(Object.keys(op.responses), `${method} ${path}`).not.toHaveLength(0);
  expect(Object.keys(doc.paths['/v1/jobs/{id}/stream'].get.responses)).toEqual(['101', '400', '404', '426']);
});

test('the stream route documents its query parameters, access_token included, and only the stream route has access_token', async () => {
  const doc = (await generateOpenApi()) as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string; required?: boolean }[] }>>;
  };
  const query = (doc.paths['/v1/jobs/{id}/stream'].get.parameters ?? []).filter((p) => p.in === 'query');
  expect(query.map((p) => p.name).sort()).toEqual(['access_token', 'from']);
  expect(query.find((p) => p.name === 'access_token')!.required).toBe(false);
  const committed = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as typeof doc;
  const withToken = Object.entries(committed.paths).flatMap(([path, ops]) =>
    Object.entries(ops).flatMap(([method, op]) => ((op.parameters ?? []).some((p) => p.name === 'access_token') ? [`${method} ${path}`] : [])),
  );
  expect(withToken).toEqual(['get /v1/jobs/{id}/stream']);
});

interface Recorded {
  method: string;
  route: string;
  status: number;
  contentType: string;
  body: string | Buffer;
}

describe('real responses conform to the document', () => {
  let t: TestApp & { fake: FakeJobManager | null };
  let doc: Record<string, any>;
  const recorded: Recorded[] = [];

  beforeAll(async () => {
    doc = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));
    t = await makeTestApp({
      // Composed as main.ts composes it (hardening plugins and their routes), so every documented route exists.
      extend: async (app) => {
        await registerHardening(app, { security: loadSecurityConfig({}), keys: new KeyRing([]) });
        app.addHook('onSend', async (req, reply, payload) => {
          recorded.push({
            method: req.method,
            route: req.routeOptions.url ?? '(none)',
            status: reply.statusCode,
            contentType: String(reply.getHeader('content-type') ?? ''),
            body: payload as string | Buffer,
          });
          return payload;
        });
      },
    });
  });
  afterAll(async () => t.close());

  test('every route, success and error paths', async () => {
    const s = t.app.server;
    const wait = async (id: string) => {
      for (let i = 0; i < 500 && (await t.manager.get('default', id))?.status !== 'succeeded'; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await request(s).get('/healthz');
    await request(s).get('/readyz');
    await request(s).get('/v1/limits');
    const job = (await request(s).post('/v1/jobs').set('Idempotency-Key', 'c1').send({ ...regressionSpec, checkpointEvery: 30 })).body.id as string;
    await request(s).post('/v1/jobs').set('Idempotency-Key', 'c1').send({ ...regressionSpec, checkpointEvery: 30 });
    await request(s).post('/v1/jobs').set('Idempotency-Key', 'c1').send(regressionSpec);
    await request(s).post('/v1/jobs').send({ ...twoLayerSpec, model: { kind: 'nope' } });
    await request(s).post('/v1/jobs').set('content-type', 'text/plain').send('hi');
    await wait(job);
    await request(s).get('/v1/jobs?limit=1');
    await request(s).get('/v1/jobs?limit=1000');
    await request(s).get(`/v1/jobs/${job}`);
    await request(s).get('/v1/jobs/j_missing');
    await request(s).get(`/v1/jobs/${job}/metrics`);
    await request(s).get('/v1/jobs/j_missing/metrics');
    await request(s).get(`/v1/jobs/${job}/data?offset=3&limit=2`);
    await request(s).get(`/v1/jobs/${job}/data?part=validation`);
    await request(s).get(`/v1/jobs/${job}/data?offset=-1`);
    await request(s).get('/v1/jobs/j_missing/data');
    await request(s).get(`/v1/jobs/${job}/checkpoints`);
    await request(s).get('/v1/jobs/j_missing/checkpoints');
    await request(s).get(`/v1/jobs/${job}/checkpoint`);
    await request(s).get(`/v1/jobs/${job}/checkpoint?format=json&epoch=30`);
    await request(s).get(`/v1/jobs/${job}/checkpoint?epoch=5`);
    await request(s).get(`/v1/jobs/${job}/checkpoint?format=yaml`);
    await request(s).post(`/v1/jobs/${job}/predictions`).send({ x: [[1]] });
    await request(s).post(`/v1/jobs/${job}/predictions`).send({ x: [[1, 2]] });
    await request(s).post(`/v1/jobs/${job}/cancel`);
    await request(s).get(`/v1/jobs/${job}/stream`);
    await request(s).get(`/v1/jobs/${job}/plots/loss.svg`);
    await request(s).get(`/v1/jobs/${job}/plots/fit.svg`);
    await request(s).get('/v1/jobs/j_missing/plots/loss.svg');
    await request(s).get(`/v1/jobs/${job}/pytorch`);
    await request(s).get('/v1/jobs/j_missing/pytorch');
    await request(s).get(`/v1/jobs/compare?ids=${job}`);
    await request(s).get('/v1/jobs/compare?ids=j_missing');
    await request(s).get(`/v1/jobs/compare.svg?ids=${job}`);
    await request(s).get('/v1/jobs/compare.svg?ids=j_missing');
    t.fake!.paused = true;
    const queued = (await request(s).post('/v1/jobs').send({ ...regressionSpec, webhook: { url: 'http://127.0.0.1:9/hook' } })).body.id as string;
    await request(s).get(`/v1/jobs/${queued}/checkpoint`);
    await request(s).get(`/v1/jobs/${job}/webhooks`);
    await request(s).get('/v1/jobs/j_missing/webhooks');
    await request(s).get('/v1/webhooks/secret');
    await request(s).delete(`/v1/jobs/${queued}`);
    await request(s).post(`/v1/jobs/${queued}/cancel`);
    // The cancelled job's delivery (refused or pending: the address is loopback) is listed in the documented shape.
    expect((await request(s).get(`/v1/jobs/${queued}/webhooks`)).body.items).toHaveLength(1);
    await request(s).delete(`/v1/jobs/${queued}`);
    await request(s).post('/v1/jobs/j_missing/cancel');
    await request(s).delete('/v1/jobs/j_missing');
    const ds = (await request(s).post('/v1/datasets').send({ x: [[1]], y: [[2]] })).body.id as string;
    await request(s).post('/v1/datasets?target=y').set('content-type', 'text/csv').send('x,y\n1,2\n');
    await request(s).post('/v1/datasets').set('content-type', 'text/csv').send('x,y\n1,zz\n');
    await request(s).post('/v1/datasets').send({ x: [[1], [2, 3]], y: [[2], [3]] });
    await request(s).get(`/v1/datasets/${ds}`);
    await request(s).get('/v1/datasets/d_missing');
    await request(s).delete(`/v1/datasets/${ds}`);
    await request(s).delete(`/v1/datasets/${ds}`);
    await request(s).post('/v1/stream-tokens').send({});

    const host = await listen(t.app);
    const stream = await streamOf(host, job);
    const messageSchema = doc.paths['/v1/jobs/{id}/stream'].get.responses['101'].content['application/json'].schema;
    for (const m of stream.messages) expect(validate(m, messageSchema, doc), JSON.stringify(m)).toEqual([]);

    const exercised = new Set<string>();
    for (const r of recorded) {
      const path = r.route.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${path} is documented`).toBeDefined();
      const response = op.responses[String(r.status)];
      expect(response, `${r.method} ${path} ${r.status} is documented`).toBeDefined();
      exercised.add(`${r.method} ${path} ${r.status}`);
      if (r.status === 204) {
        expect(r.body ?? '').toBe('');
        continue;
      }
      const mediaType = r.contentType.split(';')[0].trim();
      const content = response.content?.[mediaType];
      expect(content, `${r.method} ${path} ${r.status} documents ${mediaType}`).toBeDefined();
      if (mediaType !== 'application/json') continue;
      const body = JSON.parse(String(r.body));
      expect(validate(body, content.schema, doc), `${r.method} ${path} ${r.status}: ${String(r.body).slice(0, 300)}`).toEqual([]);
    }
    // Every documented operation was called at least once.
    const operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p}`));
    const called = new Set([...exercised].map((e) => e.split(' ').slice(0, 2).join(' ')));
    called.add('GET /v1/jobs/{id}/stream');
    expect(operations.filter((o) => !called.has(o))).toEqual([]);
    expect(exercised.size).toBeGreaterThanOrEqual(35);
  });
});
