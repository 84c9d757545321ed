/**
 * The server's log (src/service/log.ts): routine requests (dashboard polls, static files, probes) at debug, changes
 * and errors at info or above, one line per request; and the human format a terminal gets.
 */
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { afterEach, expect, test } from 'vitest';
import { buildApp, type App } from '../../src/service/app.js';
import { loadConfig } from '../../src/service/config.js';
import { formatLogLine, requestLogLevel, RequestLogController, serverLoggerOptions } from '../../src/service/log.js';
import { logSerializers } from '../../src/service/plugins/hardening.js';
import { makeTestApp, regressionSpec } from '../helpers/app.js';

type Line = Record<string, unknown> & { level: number; msg: string };

function sink() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Line);
      cb();
    },
  });
  return { lines, stream };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function appLoggingTo(level: 'info' | 'debug') {
  const t = await makeTestApp();
  const { lines, stream } = sink();
  const app: App = await buildApp({ config: loadConfig({ WORKERS: '1' }), manager: t.manager, store: t.store, logger: pino({ level }, stream) });
  cleanup.push(() => t.close(), () => app.close());
  return { app, lines };
}

test('a dashboard left open logs nothing at info: polls, static files and probes are at debug', async () => {
  const { app, lines } = await appLoggingTo('info');
  const created = await app.inject({ method: 'POST', url: '/v1/jobs', payload: regressionSpec });
  expect(created.statusCode).toBe(201);
  const id = created.json().id as string;
  const before = lines.length;
  // What the dashboard does for a minute with a job page open: the list every 2 s, the job, its checkpoints.
  for (let i = 0; i < 30; i++) {
    for (const url of ['/v1/jobs?limit=50', `/v1/jobs/${id}`, `/v1/jobs/${id}/checkpoints`, '/healthz', '/readyz']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBeLessThan(400);
    }
  }
  for (const url of ['/', '/js/app.js', '/styles.css']) expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
  expect(lines.slice(before)).toEqual([]);
});

test('changes and client errors are at info, one line each with method, path, status and time; no "incoming request"', async () => {
  const { app, lines } = await appLoggingTo('debug');
  const created = await app.inject({ method: 'POST', url: '/v1/jobs', payload: regressionSpec, headers: { 'x-request-id': 'trace-1' } });
  const id = created.json().id as string;
  await app.inject({ method: 'GET', url: '/v1/jobs/nope', headers: { 'x-request-id': 'trace-2' } });
  await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: { 'x-request-id': 'trace-3' } });
  await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-4' } });
  expect(lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toBe(false);
  const of = (reqId: string) => lines.filter((l) => l.reqId === reqId && /^[A-Z]+ \//.test(l.msg));
  expect(of('trace-1')).toHaveLength(1);
  expect(of('trace-1')[0]).toMatchObject({ level: 30, msg: expect.stringMatching(/^POST \/v1\/jobs 201 [\d.]+ ms$/) });
  expect(of('trace-2')[0]).toMatchObject({ level: 30, msg: expect.stringMatching(/^GET \/v1\/jobs\/nope 404 /) });
  expect(of('trace-3')[0]).toMatchObject({ level: 20, msg: expect.stringMatching(new RegExp(`^GET /v1/jobs/${id} 200 `)), jobId: id });
  expect(of('trace-4')[0]).toMatchObject({ level: 20, msg: expect.stringMatching(/^GET \/healthz 200 /) });
  // The job's own lines (submitted) stay at info.
  expect(lines.find((l) => l.msg === 'job submitted')).toMatchObject({ level: 30, jobId: id });
});

test('levels: reads that succeed are routine; changes, 4xx and 5xx are not', () => {
  expect(requestLogLevel('GET', 200)).toBe('debug');
  expect(requestLogLevel('HEAD', 304)).toBe('debug');
  expect(requestLogLevel('GET', 404)).toBe('info');
  expect(requestLogLevel('POST', 201)).toBe('info');
  expect(requestLogLevel('DELETE', 204)).toBe('info');
  expect(requestLogLevel('GET', 503)).toBe('error');
});

test('a server error is logged at error with the error; access tokens stay out of the line', async () => {
  const { lines, stream } = sink();
  const app = Fastify({ loggerInstance: pino({ level: 'debug', serializers: logSerializers }, stream), logController: new RequestLogController() });
  app.get('/boom', async () => {
    throw new Error('kaput');
  });
  app.get('/v1/jobs/x/stream', async () => 'ok');
  cleanup.push(() => app.close());
  expect((await app.inject({ method: 'GET', url: '/boom' })).statusCode).toBe(500);
  await app.inject({ method: 'GET', url: '/v1/jobs/x/stream?access_token=secret-token-123' });
  const boom = lines.find((l) => l.msg.startsWith('GET /boom 500 '))!;
  expect(boom.level).toBe(50);
  expect(JSON.stringify(lines)).not.toContain('secret-token-123');
});

test('the human format: time, level, message, fields; an error with its stack below; other lines as they are', () => {
  const time = new Date(2026, 11, 7, 14, 3, 7, 412).getTime();
  const line = JSON.stringify({ level: 30, time, pid: 1, hostname: 'h', reqId: 'r1', jobId: 'abc', status: 'succeeded', epoch: 60, error: null, msg: 'job finished' });
  expect(formatLogLine(line)).toBe('14:03:07.412 INFO  job finished jobId=abc status=succeeded epoch=60');
  const request = JSON.stringify({ level: 30, time, reqId: 'r2', req: { method: 'POST', url: '/v1/jobs' }, res: { statusCode: 201 }, responseTime: 3.2, msg: 'POST /v1/jobs 201 3.2 ms' });
  expect(formatLogLine(request)).toBe('14:03:07.412 INFO  POST /v1/jobs 201 3.2 ms');
  const failed = JSON.stringify({ level: 50, time, msg: 'request failed', err: { type: 'Error', message: 'kaput', stack: 'Error: kaput\n    at f (a.js:1:2)\n    at g (b.js:3:4)' } });
  expect(formatLogLine(failed)).toBe('14:03:07.412 ERROR request failed err="Error: kaput"\n    at f (a.js:1:2)\n    at g (b.js:3:4)');
  expect(formatLogLine(JSON.stringify({ level: 40, time, msg: 'x', note: 'two words', limits: { a: 1 } }))).toBe('14:03:07.412 WARN  x note="two words" limits={"a":1}');
  expect(formatLogLine('not json')).toBe('not json');
  expect(formatLogLine(line, { color: true })).toBe('14:03:07.412 \x1b[32mINFO \x1b[0m job finished jobId=abc status=succeeded epoch=60');
});

test('on a terminal the server logs in the human format; piped, in JSON', async () => {
  const written = (isTTY: boolean) => {
    const out: string[] = [];
    const stdout = Object.assign(new Writable({ write: (c, _e, cb) => (out.push(String(c)), cb()) }), { isTTY });
    return { out, stdout };
  };
  for (const isTTY of [true, false]) {
    const { out, stdout } = written(isTTY);
    const options = serverLoggerOptions({ logLevel: 'info' }, stdout);
    // Piped, pino writes to its own stdout destination: give it ours to look at.
    const app = Fastify({ logger: isTTY ? options : { ...options, stream: stdout }, logController: new RequestLogController() });
    app.post('/things', async () => ({ ok: true }));
    await app.inject({ method: 'POST', url: '/things' });
    app.log.info({ jobId: 'j1' }, 'job queued');
    await app.close();
    await new Promise((r) => setImmediate(r));
    const text = out.join('');
    if (isTTY) {
      expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \x1b\[32mINFO \x1b\[0m POST \/things 200 [\d.]+ ms\n/);
      expect(text).toMatch(/INFO \x1b\[0m job queued jobId=j1\n/);
    } else {
      const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Line);
      expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^POST \/things 200 /), 'job queued']);
    }
  }
});
