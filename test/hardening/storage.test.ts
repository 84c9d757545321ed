/**
 * Storage limits and a store that cannot write:
 * - TENANT_MAX_STORED_BYTES holds while jobs run: a job whose checkpoints alone would cross it is refused at
 *   submission; jobs that fit alone but not together are stopped with storage_quota_exceeded before the checkpoint
 *   that would cross it, keeping the checkpoints written before.
 * - A full disk (a real one: the data directory on a small tmpfs) fails the job promptly with store_error, its stream
 *   ends with that status, /readyz says the store cannot write, and submissions, cancels and deletes get 503 naming
 *   the cause instead of 500.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/service/app.js';
import { loadConfig } from '../../src/service/config.js';
import { startServer, type ChildServer } from './child-server.js';
import { listen, streamOf, summarize } from '../helpers/ws.js';

const tutorial = (over: Record<string, unknown> = {}) => ({
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs: 600, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 0,
  ...over,
});
/** One checkpoint of the tutorial net: 101,000 float32 weights and a header. */
const CHECKPOINT_BYTES = 101_000 * 4;

describe('TENANT_MAX_STORED_BYTES while jobs run', () => {
  const dirs: string[] = [];
  let app: App;
  afterAll(async () => {
    await app?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a job whose checkpoints cannot fit, and stops jobs at the checkpoint that would cross the quota', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gl-quota-'));
    dirs.push(dataDir);
    const quota = 8 * CHECKPOINT_BYTES;
    app = await buildApp({ config: loadConfig({ DATA_DIR: dataDir, WORKERS: '2', TENANT_MAX_STORED_BYTES: String(quota) }), logger: false });
    const host = await listen(app);

    // 100 checkpoints of 404 KB cannot fit in 3.2 MB: refused before anything runs.
    const refused = await request(app.server).post('/v1/jobs').send(tutorial({ checkpointEvery: 6 })).expect(429);
    expect(refused.body.error).toBe('storage_quota_exceeded');
    expect(refused.body.message).toMatch(/this job's 100 checkpoints would store about \d+ bytes/);
    expect(refused.body.message).toMatch(/TENANT_MAX_STORED_BYTES/);
    // Inline rows count too (stored as float64 beside the job): 210,000 rows of 1 + 1 numbers need 3.36 MB.
    const rows = Array.from({ length: 210_000 }, (_, i) => [i / 210_000]);
    const regression = {
      model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
      data: { kind: 'inline', x: rows, y: rows },
      training: { epochs: 1, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
    };
    const tooMany = await request(app.server).post('/v1/jobs').send(regression).expect(429);
    expect(tooMany.body.message).toMatch(/this job's inline rows \(3360000 bytes as float64\) and 1 checkpoint would store about \d+ bytes/);

    // Each fits alone (6 checkpoints), not both together (and each periodic checkpoint keeps a resume copy).
    const ids = await Promise.all(
      [0, 1].map(async (seed) => (await request(app.server).post('/v1/jobs').send(tutorial({ checkpointEvery: 100, seed })).expect(201)).body.id as string),
    );
    const finals = await Promise.all(ids.map((id) => streamOf(host, id)));
    const statuses = finals.map((f) => summarize(f).final as { status: string; error: { code: string; message: string } | null });
    const stopped = statuses.filter((s) => s.status === 'failed');
    expect(stopped.length).toBeGreaterThanOrEqual(1);
    for (const s of stopped) {
      expect(s.error!.code).toBe('storage_quota_exceeded');
      expect(s.error!.message).toMatch(/above the limit of \d+ \(TENANT_MAX_STORED_BYTES\)/);
    }
    const usage = await app.gradloom.store.tenantUsage('default');
    expect(usage.bytes).toBeLessThanOrEqual(quota);
    // A stopped job keeps what it wrote before the quota.
    const stoppedId = ids[statuses.findIndex((s) => s.status === 'failed')]!;
    const list = (await request(app.server).get(`/v1/jobs/${stoppedId}/checkpoints`).expect(200)).body;
    expect(JSON.stringify(list)).toContain('"kind":"periodic"');
  });
});

/** A tmpfs of `mb` megabytes, or null (with the reason) where this process may not mount one. */
function smallDisk(mb: number): { path: string; unmount(): void } | { skip: string } {
  const path = mkdtempSync(join(tmpdir(), 'gl-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (err) {
    rmSync(path, { recursive: true, force: true });
    return { skip: `cannot mount a small tmpfs here (${(err as Error).message.split('\n')[0]}); CI runs as root and can` };
  }
  return {
    path,
    unmount() {
      try {
        execFileSync('umount', ['-l', path], { stdio: 'pipe' });
      } finally {
        rmSync(path, { recursive: true, force: true });
      }
    },
  };
}

const disk = process.getuid?.() === 0 ? smallDisk(6) : { skip: 'mounting a tmpfs needs root; CI runs as root' };
if ('skip' in disk) console.warn(`full-disk test skipped: ${disk.skip}`);

describe.skipIf('skip' in disk)('a full disk (the data directory on a 6 MB tmpfs)', () => {
  let server: ChildServer;
  afterAll(async () => {
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
      server.proc.kill('SIGKILL');
      await server.exited;
    }
    if (!('skip' in disk)) disk.unmount();
  });

  it('fails the job with store_error, ends its stream, and answers 503 naming the cause, never 500', async () => {
    const d = disk as { path: string };
    const dataDir = join(d.path, 'data');
    mkdirSync(dataDir);
    server = await startServer({ DATA_DIR: dataDir, WORKERS: '1' });
    const host = server.base.replace('http://', '');
    // A checkpoint (and its resume copy) every epoch: 6 MB lasts a few epochs.
    const sub = await server.call('POST', '/v1/jobs', null, tutorial({ checkpointEvery: 1, training: { epochs: 100, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } } }));
    expect(sub.status).toBe(201);
    const id = sub.json.id as string;
    const { final } = summarize(await streamOf(host, id));
    expect(final).toMatchObject({ type: 'status', status: 'failed', error: { code: 'store_error' } });
    expect((final as { error: { message: string } }).error.message).toMatch(/full/);

    const ready = await server.call('GET', '/readyz', null);
    expect(ready.status).toBe(503);
    expect(ready.json.checks.store).toMatch(/the store cannot take writes: the disk holding the database is full/);

    const again = await server.call('POST', '/v1/jobs', null, tutorial());
    expect(again.status).toBe(503);
    expect(again.json.error).toBe('store_unavailable');
    expect(again.json.message).toMatch(/disk holding the database is full/);
    expect(again.headers.get('retry-after')).toBe('5');

    const cancel = await server.call('POST', `/v1/jobs/${id}/cancel`, null);
    expect([409, 503]).toContain(cancel.status);
    const del = await server.call('DELETE', `/v1/jobs/${id}`, null);
    // The failed status could not be written yet (the store still says running): delete asks to cancel first.
    expect([204, 409, 503]).toContain(del.status);
    // Reads still work.
    expect((await server.call('GET', `/v1/jobs/${id}`, null)).status).toBeLessThan(500);
  });
});
