/** `--follow` on a terminal: the progress line is redrawn in place (\r … erase-to-end), then one newline. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Client } from '../../src/cli/client.js';
import { exitCodeFor, follow, summary, type JobView } from '../../src/cli/follow.js';
import { regressionSpec } from '../helpers/app.js';
import { startLiveServer, type LiveServer } from '../helpers/live-server.js';

let server: LiveServer;
beforeAll(async () => {
  server = await startLiveServer({ apiKey: 'follow-test-key-0123456789' });
});
afterAll(async () => {
  await server?.close();
});

function sink(isTTY: boolean) {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return { stream, text: () => text };
}

test('on a terminal the bar is redrawn in place and the job is followed to its end', async () => {
  const client = new Client({ url: server.url, apiKey: server.apiKey });
  const job = await client.json<JobView>('POST', '/v1/jobs', regressionSpec);
  const out = sink(true);
  const err = sink(false);
  const done = await follow(client, job, { json: false, out: out.stream, err: err.stream });
  expect(done.status).toBe('succeeded');
  expect(exitCodeFor(done.status)).toBe(0);
  const frames = out.text().split('\r').filter((f) => f !== '');
  expect(frames.length).toBeGreaterThanOrEqual(2);
  for (const frame of frames.slice(0, -1)) expect(frame).toMatch(/^\[[#.]{24}\] +\d+\/60 +\d+%  loss \S+  ETA \S+\x1b\[K$/);
  expect(frames.at(-1)).toMatch(/^\[#{24}\] 60\/60 100%  loss \S+  ETA \S+\x1b\[K\n$/);
  expect(err.text()).toBe('');
  expect(summary(done)).toMatch(new RegExp(`^job ${job.id} succeeded at epoch 60/60, loss \\S+ in \\S+$`));
});

test('a wrong key is refused before the stream opens, with the server saying why', async () => {
  const good = new Client({ url: server.url, apiKey: server.apiKey });
  const job = await good.json<JobView>('POST', '/v1/jobs', regressionSpec);
  const bad = new Client({ url: server.url, apiKey: 'not-the-key-at-all' });
  await expect(follow(bad, job, { json: false, out: sink(false).stream, err: sink(false).stream })).rejects.toThrow(
    `cannot open the stream of job ${job.id}: send Authorization: Bearer <api key> (HTTP 401)`,
  );
});
