/**
 * Issue 11, "no request can stall the server": a real server process takes the hostile bodies of
 * bench/hostile-cases.ts (at 8 MiB, half the default body limit, to stay quick), two at a time, while /healthz is
 * probed every 50 ms. Every answer must be a 4xx, none larger than a few KB, and no probe may wait long. The
 * latency bound is deliberately generous (1 s; the machine is shared): this checks that nothing blocks the event
 * loop for the length of a body, not how fast it is. `npm run bench:hostile` is the long version, with numbers.
 *
 * Before the change: a 500 from zod's stack overflow for each 130k-wide row, and /healthz waited for the whole
 * validation of the large bodies (47 s at 16 MB).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { driveHostile, trainedJob } from '../../bench/hostile.js';
import { hostileCases } from '../../bench/hostile-cases.js';
import { startServer, type ChildServer } from './child-server.js';

const KEY = 'hostile-load-key-0123456789abcdef';
let server: ChildServer;

beforeAll(async () => {
  server = await startServer({ API_KEYS: `load:${KEY}` });
}, 120_000);
afterAll(async () => {
  server?.proc.kill('SIGKILL');
  await server?.exited;
});

it('hostile bodies get short 4xx answers, and /healthz keeps answering while they are checked', async () => {
  const cases = hostileCases({ size: 0.5 }).filter((c) => c.expect === 'refuse');
  const job = await trainedJob(server.base, KEY);
  const report = await driveHostile({ base: server.base, key: KEY, job, cases, rounds: 1, concurrency: 2, pid: server.proc.pid });
  const summary = JSON.stringify({ ...report, cases: report.cases.map((c) => [c.label, c.statuses, c.slowestMs, c.worstHealthzMs]) });
  expect(report.count5xx, summary).toBe(0);
  expect(report.wrongClass, summary).toEqual([]);
  expect(report.largestAnswer.bytes, summary).toBeLessThan(4096);
  expect(report.failedProbes, summary).toBe(0);
  expect(report.probes, summary).toBeGreaterThan(10);
  expect(report.worstHealthzMs, summary).toBeLessThan(1000);
}, 60_000);
