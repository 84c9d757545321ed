/**
 * Hostile input, >= 10,000 requests through app.inject (no sockets): malformed JSON, NaN/Infinity/1e999/-0,
 * wrong types, unknown fields, deep nesting, ragged and enormous arrays, specs that would need gigabytes,
 * negative/fractional epochs, malformed CSV and safetensors uploads, bad ids, hostile query strings and headers,
 * oversized bodies. Every answer must be a 4xx with `{error, message}` (or a 2xx when the input happened to be
 * valid), never a 5xx, never a stack trace or a path; the server still serves afterwards and its heap is bounded.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/engine/errors.js';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';
import { checkJobSpec } from '../../src/service/limits.js';
import { leaksInternals } from '../../src/service/plugins/security.js';
import { jobSpecSchema } from '../../src/spec/job-spec.js';
import { ALICE_KEY, auth, BOB_KEY, makeHardenedApp, realManager, TWO_TENANTS, waitForJob, type HardenedApp } from '../hardening/service.js';
import {
  csvUpload,
  encodeId,
  hostileHeaders,
  hostileId,
  hostileQuery,
  hugeSpec,
  mutatedSpec,
  safetensorsBytes,
  structuralBody,
  type FuzzRequest,
} from './hostile.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ENV = {
  API_KEYS: TWO_TENANTS,
  MAX_BODY_BYTES: String(1024 * 1024),
  MAX_INPUT_DIM: '64',
  MAX_HIDDEN_DIM: '64',
  MAX_OUTPUT_DIM: '16',
  MAX_PARAMETERS: '10000',
  MAX_EPOCHS: '1000',
  MAX_DATASET_ROWS: '10000',
  MAX_JOB_MEMORY_BYTES: String(1024 * 1024),
  RATE_LIMIT_PER_MINUTE: '0',
  TENANT_MAX_ACTIVE_JOBS: '50',
};
const SEED = Number(process.env.FUZZ_SEED ?? 20261126);

let h: HardenedApp;
let doneJob: string;
let count = 0;
const statuses = new Map<number, number>();
let heapBefore = 0;

beforeAll(async () => {
  h = await makeHardenedApp({ env: ENV, manager: realManager(1) });
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: auth(ALICE_KEY),
    payload: { model: { kind: 'linear_regression', inputDim: 2, outputDim: 1 }, data: { kind: 'random', n: 4 }, training: { epochs: 2, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } }, checkpointEvery: 1 },
  });
  expect(res.statusCode).toBe(201);
  doneJob = res.json().id;
  await waitForJob(h.app, ALICE_KEY, doneJob);
  gc();
  heapBefore = process.memoryUsage().heapUsed;
});
afterAll(async () => h?.close());

/** What the server must never do, whatever was sent. */
function checkAnswer(req: FuzzRequest, res: LightMyRequestResponse): void {
  count++;
  statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  const where = `${req.label} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  if (res.statusCode >= 500) throw new Error(`5xx: ${where}`);
  if (req.mustFail && res.statusCode < 400) throw new Error(`accepted hostile input: ${where}`);
  if (res.statusCode >= 400 && req.method !== 'HEAD') {
    let body: { error?: unknown; message?: unknown };
    try {
      body = res.json();
    } catch {
      throw new Error(`error without a JSON body: ${where}`);
    }
    if (typeof body.error !== 'string' || body.error === '' || typeof body.message !== 'string' || body.message === '')
      throw new Error(`error without {error, message}: ${where}`);
  }
  if (leaksInternals(res.body)) throw new Error(`leaks internals: ${where}`);
}

async function send(req: FuzzRequest, key = ALICE_KEY): Promise<LightMyRequestResponse> {
  const url = req.url === '/v1/predictions-target' ? `/v1/jobs/${doneJob}/predictions` : req.url;
  const headers: Record<string, string> = { ...auth(key), ...req.headers };
  const res = await h.app.inject({ method: req.method, url, headers, ...(req.body !== undefined ? { payload: req.body } : {}) } as InjectOptions);
  checkAnswer({ ...req, url }, res);
  return res;
}

/** The spec oracle: not JSON, or not a valid spec, or over a limit -> must be refused. */
function oracleRefuses(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return true;
  }
  const parsed = jobSpecSchema.safeParse(value);
  if (!parsed.success) return true;
  return checkJobSpec(parsed.data, h.config.limits, null).length > 0;
}

const run = (arb: fc.Arbitrary<unknown>, numRuns: number, predicate: (v: never) => Promise<void>) =>
  fc.assert(fc.asyncProperty(arb, predicate as (v: unknown) => Promise<void>), { numRuns, seed: SEED, endOnFailure: true });

describe('fuzz: hostile requests', () => {
  it('job specs with one hostile mutation (raw NaN/1e999/-0, wrong types, unknown fields, deletions)', async () => {
    await run(mutatedSpec, 4000, async (req: FuzzRequest) => {
      const mustFail = req.mustFail || oracleRefuses(req.body as string);
      await send({ ...req, mustFail });
    });
  });

  it('every integer field refuses negative, zero, fractional, -0, 1e999, NaN and wrong types', async () => {
    const fields = ['INPUT', 'HIDDEN', 'OUTPUT', 'ROWS', 'EPOCHS', 'BATCH', 'SEED', 'EVERY'];
    const template =
      '{"model":{"kind":"two_layer_net","inputDim":INPUT,"hiddenDim":HIDDEN,"outputDim":OUTPUT},"data":{"kind":"random","n":ROWS},' +
      '"training":{"epochs":EPOCHS,"batchSize":BATCH,"loss":"mse","optimizer":{"kind":"sgd","lr":0.1}},"seed":SEED,"checkpointEvery":EVERY}';
    const valid: Record<string, string> = { INPUT: '2', HIDDEN: '3', OUTPUT: '1', ROWS: '4', EPOCHS: '2', BATCH: '2', SEED: '1', EVERY: '1' };
    const hostile = ['-1', '0', '0.5', '-0', '1.0000001', '1e999', '-1e999', 'NaN', 'Infinity', '"1"', 'null', 'true', '[]', '{}', '1e400', '9007199254740993e10'];
    for (const field of fields) {
      for (const value of hostile) {
        if (field === 'SEED' && value === '0') continue; // seed 0 is valid (the tutorials use it)
        if (field === 'SEED' && value === '-0') continue; // -0 parses to 0
        const body = fields.reduce((t, f) => t.replace(f, f === field ? value : valid[f]!), template);
        const res = await send({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, body, mustFail: true, label: `${field}=${value}` });
        expect(res.statusCode, `${field}=${value}: ${res.body}`).toBe(400);
      }
    }
  });

  it('specs that would need gigabytes or break a limit', async () => {
    await run(hugeSpec, 800, async (req: FuzzRequest) => {
      const res = await send(req);
      expect(res.statusCode, req.label).toBe(400);
      expect(res.json().message, req.label).toMatch(/limit|MAX_|must be/);
    });
  });

  it('deep nesting, ragged and enormous arrays, duplicate keys, prototype pollution, odd bodies', async () => {
    await run(structuralBody, 600, async (req: FuzzRequest) => {
      await send(req);
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('enormous inline data beyond the row limit and bodies beyond the size limit', async () => {
    await run(fc.integer({ min: 10_001, max: 120_000 }), 30, async (n: number) => {
      const body = `{"model":{"kind":"linear_regression","inputDim":1,"outputDim":1},"data":{"kind":"inline","x":[${'[1],'.repeat(n - 1)}[1]],"y":[${'[2],'.repeat(n - 1)}[2]]},"training":{"epochs":1,"loss":"mse","optimizer":{"kind":"sgd","lr":0.1}}}`;
      const res = await send({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, body, mustFail: true, label: `inline rows ${n}` });
      expect([400, 413]).toContain(res.statusCode);
    });
    await run(fc.integer({ min: 1024 * 1024 + 1, max: 3 * 1024 * 1024 }), 20, async (size: number) => {
      for (const url of ['/v1/jobs', '/v1/datasets', `/v1/jobs/${doneJob}/predictions`]) {
        const res = await send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: `{"x":"${'a'.repeat(size)}"}`, mustFail: true, label: `oversized ${size} to ${url}` });
        expect(res.statusCode).toBe(413);
        expect(res.json().message).toMatch(/MAX_BODY_BYTES/);
      }
    });
  });

  it('CSV uploads: ragged rows, non-numbers, quotes, missing targets', async () => {
    await run(csvUpload, 1200, async (req: FuzzRequest) => {
      await send(req);
    });
  });

  it('malformed safetensors: the parser refuses with a SafetensorsError, uploads are refused by type', async () => {
    await run(safetensorsBytes, 1500, async (bytes: Uint8Array) => {
      try {
        parseSafetensors(bytes);
      } catch (err) {
        if (!(err instanceof SafetensorsError)) throw new Error(`parseSafetensors threw ${String(err)}`);
      }
    });
    await run(safetensorsBytes, 300, async (bytes: Uint8Array) => {
      for (const url of ['/v1/datasets', `/v1/jobs/${doneJob}/predictions`, '/v1/jobs']) {
        const res = await send({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(bytes), mustFail: true, label: `safetensors upload to ${url}` });
        expect(res.statusCode).toBe(415);
      }
    });
  });

  it('bad ids and query strings on every route, as the owner and as another tenant', async () => {
    const routes = h.routes.filter((r) => r.url.startsWith('/v1'));
    const arb = fc.tuple(fc.constantFrom(...routes), hostileId, hostileQuery, fc.boolean());
    await run(arb, 2500, async ([route, id, query, asBob]: [(typeof routes)[number], string, string, boolean]) => {
      const url = route.url.replace(/:\w+/g, () => encodeId(id)) + query;
      const req: FuzzRequest = {
        method: route.method as FuzzRequest['method'],
        url,
        headers: route.method === 'POST' ? { 'content-type': 'application/json' } : {},
        body: route.method === 'POST' ? '{"x":[[1,2]]}' : undefined,
        // An id that names nothing cannot succeed; routes without ids may (a list with a hostile but valid query).
        mustFail: route.url.includes(':') && route.method !== 'HEAD',
        label: `${route.method} ${url}`,
      };
      await send(req, asBob ? BOB_KEY : ALICE_KEY);
    });
  });

  it('hostile headers: content types, encodings, idempotency keys, request ids, credentials', async () => {
    const valid = JSON.stringify({ model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 }, data: { kind: 'random', n: 2 }, training: { epochs: 1, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } } });
    await run(fc.tuple(hostileHeaders, fc.constantFrom('/v1/jobs', '/v1/datasets', `/v1/jobs/${doneJob}/predictions`)), 800, async ([headers, url]: [Record<string, string>, string]) => {
      await send({ method: 'POST', url, headers, body: valid, mustFail: url !== '/v1/jobs', label: `headers ${JSON.stringify(headers)} ${url}` });
    });
    const badAuth = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40 }).map((s) => `Bearer ${s}`),
      fc.constantFrom('Bearer', 'Bearer ', `Bearer ${ALICE_KEY} extra`, `Basic ${ALICE_KEY}`, `Bearer ${ALICE_KEY.toUpperCase()}`, `Bearer ${ALICE_KEY.slice(0, -1)}`, 'Bearer \u0000', `Token ${ALICE_KEY}`),
    );
    // From many addresses: one address is blocked (429) after AUTH_FAILURES_PER_MINUTE failures (plugins.test.ts).
    let client = 0;
    await run(fc.tuple(badAuth, fc.constantFrom('/v1/jobs', `/v1/jobs/${doneJob}`, `/v1/jobs/${doneJob}/checkpoint`, '/v1/limits')), 500, async ([authorization, url]: [string, string]) => {
      client++;
      const res = await h.app.inject({ method: 'GET', url, headers: { authorization }, remoteAddress: `10.1.${client >> 8}.${client & 255}` });
      checkAnswer({ method: 'GET', url, mustFail: true, label: `authorization ${JSON.stringify(authorization)}` }, res);
      expect(res.statusCode).toBe(401);
    });
  });

  it('with the default limits, specs that would allocate gigabytes are refused before anything is queued', async () => {
    const d = await makeHardenedApp({ env: { API_KEYS: TWO_TENANTS }, manager: realManager(1) });
    try {
      const two = (inputDim: number, hiddenDim: number, outputDim: number, n: number, extra: Record<string, unknown> = {}) => ({
        model: { kind: 'two_layer_net', inputDim, hiddenDim, outputDim },
        data: { kind: 'random', n },
        training: { epochs: 1, loss: 'mse', optimizer: { kind: 'adam', lr: 0.1 }, ...extra },
      });
      const cases: [unknown, RegExp][] = [
        [two(10_000, 10_000, 1_000, 64), /MAX_PARAMETERS/], // 110M parameters: 1.3 GB with Adam state
        [two(10_000, 1_000, 10, 1_000_000), /MAX_JOB_MEMORY_BYTES/], // 40 GB of random data
        [two(1_000, 100, 10, 1_000_000, { batchSize: 1_000_000 }), /MAX_JOB_MEMORY_BYTES/],
        [two(2 ** 31, 1, 1, 1), /MAX_INPUT_DIM/],
        [two(8, 8, 8, Number.MAX_SAFE_INTEGER), /MAX_DATASET_ROWS/],
        [{ ...two(8, 8, 8, 8), training: { epochs: 1e15, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } } }, /MAX_EPOCHS/],
      ];
      for (const [spec, limit] of cases) {
        const res = await d.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth(ALICE_KEY), payload: spec as object });
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json().message).toMatch(limit);
        count++;
      }
      const list = await d.app.inject({ method: 'GET', url: '/v1/jobs', headers: auth(ALICE_KEY) });
      expect(list.json().items).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('sent at least 10,000 requests, still serves, and kept its heap bounded', async () => {
    expect(count).toBeGreaterThanOrEqual(10_000);
    const health = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    const job = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth(BOB_KEY),
      payload: { model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 }, data: { kind: 'random', n: 2 }, training: { epochs: 2, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } } },
    });
    expect(job.statusCode).toBe(201);
    await waitForJob(h.app, BOB_KEY, job.json().id);
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    console.log(`fuzz: ${count} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; heap growth ${(growth / 1048576).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  });
});
