/**
 * Issue 11, "work per request is bounded by what it needs, not by how wrong it is": bodies whose matrices are
 * wrong everywhere get a short 400 (at most 20 issues listed, the total counted), never a 500 from zod's
 * recursion, never an answer that grows with the input; and the smaller request-handling cases of the issue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE_KEY, auth, makeHardenedApp, TWO_TENANTS, waitForJob, type HardenedApp } from './service.js';
import { inlineSummary } from '../helpers/inline.js';

let h: HardenedApp;
let doneJob: string;

const spec = (data: unknown) =>
  JSON.stringify({
    model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
    data,
    training: { epochs: 1, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
  });

beforeAll(async () => {
  h = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS, RATE_LIMIT_PER_MINUTE: '0' } });
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { ...auth(ALICE_KEY), 'content-type': 'application/json' },
    payload: spec({ kind: 'inline', x: [[1], [2]], y: [[1], [2]] }),
  });
  expect(res.statusCode).toBe(201);
  doneJob = res.json().id;
  await waitForJob(h.app, ALICE_KEY, doneJob);
});
afterAll(async () => h?.close());

const post = (url: string, payload: string | Buffer, contentType = 'application/json') =>
  h.app.inject({ method: 'POST', url, headers: { ...auth(ALICE_KEY), 'content-type': contentType }, payload });

describe('one row of 130,000 invalid values', () => {
  const row = `[${Array.from({ length: 130_000 }, () => '""').join(',')}]`;
  const cases = [
    ['POST /v1/jobs', () => post('/v1/jobs', spec({ kind: 'inline', x: '@', y: [[1]] }).replace('"@"', `[${row}]`)), 'data.x.0.0'],
    ['POST /v1/jobs/:id/predictions', () => post(`/v1/jobs/${doneJob}/predictions`, `{"x":[${row}]}`), 'x.0.0'],
    ['POST /v1/datasets', () => post('/v1/datasets', `{"x":[${row}],"y":[[1]]}`), 'x.0.0'],
  ] as const;
  for (const [name, send, firstPath] of cases) {
    it(`${name}: 400 listing 20 issues of 130000, not a 500 from a stack overflow`, async () => {
      const res = await send();
      expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
      const body = res.json();
      expect(body.error).toBe('validation_error');
      expect(body.issues).toHaveLength(20);
      expect(body.issues[0]).toEqual({ path: firstPath, message: 'must be a number, got string ""' });
      expect(body.issuesTotal).toBe(130_000);
      expect(body.message).toMatch(/and 129997 more \(20 listed in issues, 130000 in all\)/);
      expect(res.body.length).toBeLessThan(4000);
    });
  }
});

describe('a body at the size limit that is wrong everywhere', () => {
  it('3.3 million rows of [""] (16 MB): a short 400 naming the row limit, without looking at the cells', async () => {
    const rows = 3_300_000;
    const x = `[${new Array(rows).fill('[""]').join(',')}]`;
    const payload = spec({ kind: 'inline', x: '@', y: [[1]] }).replace('"@"', x);
    expect(payload.length).toBeGreaterThan(13_000_000);
    const res = await post('/v1/jobs', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues).toEqual([{ path: 'data.x', message: 'has 3300000 rows, above the limit of 1000000 (MAX_DATASET_ROWS)' }]);
    expect(res.body.length).toBeLessThan(1000);
  });

  it('900,000 rows of [""] (within the row limit): a 400 of a few KB that counts every bad cell', async () => {
    const rows = 900_000;
    const payload = spec({ kind: 'inline', x: '@', y: [[1]] }).replace('"@"', `[${new Array(rows).fill('[""]').join(',')}]`);
    const res = await post('/v1/jobs', payload);
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.issues).toHaveLength(20);
    expect(body.issues[19]).toEqual({ path: 'data.x.19.0', message: 'must be a number, got string ""' });
    expect(body.issuesTotal).toBe(rows);
    expect(res.body.length).toBeLessThan(4000);
  });

  it('a large value outside the matrices is refused by path before zod sees it', async () => {
    const payload = spec({ kind: 'random', n: 4 }).replace('"n":4', `"n":4,"x":[${new Array(300_000).fill('[1]').join(',')}]`);
    const res = await post('/v1/jobs', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0]).toEqual({
      path: 'data.x',
      message: 'holds more than 20000 values; in this body only data.x and data.y (with data.kind "inline") may be large',
    });
  });

  it('a valid large body still trains: the matrices come back whole after validation', async () => {
    const n = 40_000; // > 256 KiB: parsed on the worker thread
    const x = Array.from({ length: n }, (_, i) => [i / n]);
    const y = x.map(([v]) => [2 * v! + 1]);
    const payload = spec({ kind: 'inline', x, y });
    expect(payload.length).toBeGreaterThan(256 * 1024);
    const res = await post('/v1/jobs', payload);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
    const job = res.json();
    // The answer carries the rows' count and digest; the rows are stored apart, whole and exact.
    expect(job.spec.data).toEqual(inlineSummary({ x, y }));
    expect(res.body.length).toBeLessThan(4096);
    const last = await h.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}/data?offset=${n - 1}`, headers: auth(ALICE_KEY) });
    expect(last.json()).toEqual({ part: 'data', total: n, offset: n - 1, x: [[(n - 1) / n]], y: [[2 * ((n - 1) / n) + 1]], nextOffset: null });
    const one = await h.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}/data?offset=123&limit=1`, headers: auth(ALICE_KEY) });
    expect(one.json()).toMatchObject({ x: [[123 / n]], y: [[2 * (123 / n) + 1]], nextOffset: 124 });
  });
});

describe('problems in the matrices and in the rest of the body', () => {
  it('come back together in one 400, the matrices first', async () => {
    const res = await post('/v1/jobs', spec({ kind: 'inline', x: [['a']], y: [[1]] }).replace('"lr":0.01', '"lr":-1'));
    expect(res.statusCode).toBe(400);
    expect(res.json().issues).toEqual([
      { path: 'data.x.0.0', message: 'must be a number, got string "a"' },
      { path: 'training.optimizer.lr', message: 'must be > 0, got number -1' },
    ]);
    expect(res.json().issuesTotal).toBeUndefined();
  });
});

describe('numbers out of range', () => {
  it('1e308 inline: 400 naming the value and the float32 limit', async () => {
    const res = await post('/v1/jobs', spec({ kind: 'inline', x: [[1], [1e308]], y: [[1], [2]] }));
    expect(res.statusCode).toBe(400);
    expect(res.json().issues).toEqual([
      { path: 'data.x.1.0', message: 'is 1e+308, outside the float32 range training uses (±3.4028234663852886e+38)' },
    ]);
  });

  it('1e309 inline: says the number is out of range, not "got number null"', async () => {
    const res = await post('/v1/jobs', spec({ kind: 'inline', x: [[1]], y: [['@']] }).replace('"@"', '1e309'));
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toMatch(/null/);
    expect(res.json().issues[0].path).toBe('data.y.0.0');
    expect(res.json().issues[0].message).toMatch(/^is out of range/);
  });

  it('1e309 in a scalar field: out of range, not "got number null"', async () => {
    const res = await post('/v1/jobs', spec({ kind: 'random', n: 2 }).replace('"lr":0.01', '"lr":1e309'));
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0]).toEqual({
      path: 'training.optimizer.lr',
      message: 'must be a number, got a number out of range (beyond ±1.8e308 it reads as infinity)',
    });
  });

  it('1e39 in a CSV upload: 400 naming the value and the limit', async () => {
    const res = await post('/v1/datasets', 'a,b\n1,2\n1e39,3\n', 'text/csv');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('line 3, column "a": "1e39" is outside the float32 range training uses (±3.4028234663852886e+38)');
  });

  it('0x10 in a CSV upload is not read as 16', async () => {
    const res = await post('/v1/datasets', 'a,b\n0x10,2\n', 'text/csv');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('line 2, column "a": "0x10" is not a decimal number');
  });
});

describe('the smaller ones', () => {
  it('POST /v1/datasets?target=a&target=b (CSV): 400 saying to give target once', async () => {
    const res = await post('/v1/datasets?target=a&target=b', 'a,b,c\n1,2,3\n', 'text/csv');
    expect(res.statusCode).toBe(400);
    expect(res.json().issues).toEqual([
      { path: 'query.target', message: 'is given 2 times; give it once, naming several columns with commas (?target=a,b)' },
    ]);
  });

  it('an invalid 15 MB CSV field is not echoed back whole', async () => {
    const field = 'z'.repeat(15 * 1024 * 1024);
    const res = await post('/v1/datasets', `a,b\n${field},1\n`, 'text/csv');
    expect(res.statusCode).toBe(400);
    expect(res.body.length).toBeLessThan(1000);
    expect(res.json().message).toMatch(/^line 2, column "a": "z{100}"\.\.\. \(15728640 characters\) is not a decimal number$/);
  });

  it('a __proto__ key: a 400 that names it, not "not valid JSON"', async () => {
    const res = await post('/v1/jobs', spec({ kind: 'random', n: 2 }).replace('"kind":"random"', '"kind":"random","__proto__":{"polluted":1}'));
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('validation_error');
    expect(body.issues[0].path).toBe('data.__proto__');
    expect(body.issues[0].message).toMatch(/"__proto__" keys are refused/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('?from=0x10 is refused: decimal integers only', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/v1/jobs/${doneJob}/metrics?from=0x10`, headers: auth(ALICE_KEY) });
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0].path).toBe('query.from');
    const ok = await h.app.inject({ method: 'GET', url: `/v1/jobs/${doneJob}/metrics?from=2`, headers: auth(ALICE_KEY) });
    expect(ok.statusCode).toBe(200);
  });
});

describe('timeouts and keys', () => {
  it('the 408 for a request that did not arrive in time has the documented error shape', async () => {
    let written = '';
    let destroyed = false;
    const socket = { destroyed: false, writable: true, write: (s: string) => (written += s), destroy: () => (destroyed = true) };
    h.app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    const [head, body] = written.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(head).toMatch(/\r\nConnection: close/);
    expect(JSON.parse(body!)).toEqual({
      error: 'request_timeout',
      message: 'the request did not arrive completely within 30000 ms (REQUEST_TIMEOUT_MS); send it faster, or in smaller pieces',
    });
    expect(destroyed).toBe(true);
  });

  it('60 wrong keys from one address do not lock out a tenant whose key is right (same address)', async () => {
    const get = (authorization: string) =>
      h.app.inject({ method: 'GET', url: '/v1/jobs', headers: { authorization }, remoteAddress: '192.0.2.9' });
    for (let i = 0; i < 60; i++) expect((await get(`Bearer wrong-key-${i}-0000000000`)).statusCode).toBe(401);
    expect((await get('Bearer wrong-key-61-0000000000')).statusCode).toBe(429);
    expect((await get(`Bearer ${ALICE_KEY}`)).statusCode).toBe(200);
  });
});
