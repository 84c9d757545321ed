/**
 * The real server as a child process: SIGKILL in the middle of training loses no acknowledged job and no finished
 * result, and the interrupted job resumes from its last checkpoint to the same final weights as an uninterrupted
 * run; SIGTERM drains (snapshot, final stream message, exit 0 within SHUTDOWN_DEADLINE_MS); without API keys the
 * server refuses a non-loopback HOST.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseSafetensors } from '../../src/engine/safetensorsFormat.js';
import { SqliteJobStore } from '../../src/service/store/sqlite.js';
import { startServer, waitJob, type ChildServer } from './child-server.js';
import { ALICE_KEY, BOB_KEY, TWO_TENANTS } from './service.js';

const dirs: string[] = [];
const servers: ChildServer[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'gl-proc-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const s of servers.splice(0)) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function start(env: Record<string, string>): Promise<ChildServer> {
  const s = await startServer(env);
  servers.push(s);
  return s;
}

// The tutorial's two-layer net, long enough (a few seconds) to be killed in the middle.
const longSpec = (epochs: number, checkpointEvery?: number) => ({
  model: { kind: 'two_layer_net', inputDim: 1000, hiddenDim: 100, outputDim: 10 },
  data: { kind: 'random', n: 64 },
  training: { epochs, loss: 'sse', optimizer: { kind: 'sgd', lr: 1e-6 } },
  seed: 7,
  ...(checkpointEvery ? { checkpointEvery } : {}),
});
const shortSpec = {
  model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
  data: { kind: 'inline', x: [[1], [2], [3]], y: [[2], [4], [6]] },
  training: { epochs: 50, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.01 } },
  seed: 1,
};

async function submit(s: ChildServer, spec: unknown, key = ALICE_KEY): Promise<string> {
  const r = await s.call('POST', '/v1/jobs', key, spec);
  expect(r.status, r.bytes.toString()).toBe(201);
  return r.json.id;
}

async function finalTensors(s: ChildServer, id: string, key = ALICE_KEY): Promise<Record<string, Float32Array>> {
  const r = await s.call('GET', `/v1/jobs/${id}/checkpoint`, key);
  expect(r.status).toBe(200);
  return Object.fromEntries(Object.entries(parseSafetensors(new Uint8Array(r.bytes)).tensors).map(([k, t]) => [k, t.data]));
}

async function losses(s: ChildServer, id: string, key = ALICE_KEY): Promise<number[]> {
  const r = await s.call('GET', `/v1/jobs/${id}/metrics`, key);
  expect(r.status).toBe(200);
  return r.json.epochs.map((e: { epoch: number; loss: number }, i: number) => {
    expect(e.epoch).toBe(i + 1); // no gaps, no duplicates
    return e.loss;
  });
}

describe('a real server process', () => {
  it('SIGKILL mid-training: nothing acknowledged is lost, the job resumes from its checkpoint to the same weights', async () => {
    const dataDir = tmp();
    const env = { DATA_DIR: dataDir, API_KEYS: TWO_TENANTS, WORKERS: '1' };
    const s1 = await start(env);

    // A finished result, downloaded before the crash.
    const done = await submit(s1, shortSpec, BOB_KEY);
    expect((await waitJob(s1, BOB_KEY, done)).status).toBe('succeeded');
    const doneBytes = (await s1.call('GET', `/v1/jobs/${done}/checkpoint`, BOB_KEY)).bytes;
    const doneLosses = await losses(s1, done, BOB_KEY);

    // The victim, and an identical job (same spec and seed) acknowledged but still queued behind it (one worker):
    // after the restart it runs uninterrupted and is the reference.
    const EPOCHS = 2000;
    const victim = await submit(s1, longSpec(EPOCHS, 400));
    const reference = await submit(s1, longSpec(EPOCHS, 400));
    const seen = await waitJob(s1, ALICE_KEY, victim, (j) => j.epoch >= 900);
    expect(seen.status).toBe('running');
    s1.proc.kill('SIGKILL');
    expect((await s1.exited).signal).toBe('SIGKILL');

    const s2 = await start(env);
    // Nothing acknowledged is lost.
    const again = await s2.call('GET', `/v1/jobs/${done}`, BOB_KEY);
    expect(again.json.status).toBe('succeeded');
    expect((await s2.call('GET', `/v1/jobs/${done}/checkpoint`, BOB_KEY)).bytes.equals(doneBytes)).toBe(true);
    expect(await losses(s2, done, BOB_KEY)).toEqual(doneLosses);
    for (const id of [victim, reference]) expect((await s2.call('GET', `/v1/jobs/${id}`, ALICE_KEY)).status).toBe(200);

    // It resumed from a checkpoint (periodic every 400 epochs, or a newer crash-recovery snapshot), not from scratch.
    const v = await waitJob(s2, ALICE_KEY, victim);
    expect(v.status).toBe('succeeded');
    const resumed = s2.logs.find((l) => l.msg === 'job resuming from snapshot' && l.jobId === victim);
    expect(resumed, 'the restarted server logs the resume').toBeDefined();
    expect(resumed!.epoch as number).toBeGreaterThanOrEqual(800);
    expect(resumed!.epoch as number).toBeLessThan(EPOCHS);
    const r = await waitJob(s2, ALICE_KEY, reference);
    expect(r.status).toBe('succeeded');
    expect(s2.logs.some((l) => l.msg === 'job resuming from snapshot' && l.jobId === reference)).toBe(false);

    // Same final weights, bit for bit, and the same loss history.
    const a = await finalTensors(s2, victim);
    const b = await finalTensors(s2, reference);
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) expect(Buffer.from(a[k]!.buffer).equals(Buffer.from(b[k]!.buffer)), k).toBe(true);
    const la = await losses(s2, victim);
    expect(la).toHaveLength(EPOCHS);
    expect(la).toEqual(await losses(s2, reference));

    s2.proc.kill('SIGTERM');
    expect((await s2.exited).code).toBe(0);
    const store = new SqliteJobStore({ dataDir });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    await store.close();
  });

  it('SIGTERM drains: streams get a final status, running jobs are snapshotted, exit 0 within the deadline', async () => {
    const dataDir = tmp();
    const DEADLINE = 3000;
    const env = { DATA_DIR: dataDir, API_KEYS: TWO_TENANTS, WORKERS: '1', SHUTDOWN_DEADLINE_MS: String(DEADLINE) };
    const s = await start(env);
    const EPOCHS = 1500;
    const id = await submit(s, longSpec(EPOCHS));

    const messages: { type: string; status?: string; epoch?: number }[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/v1/jobs/${id}/stream`, { headers: { authorization: `Bearer ${ALICE_KEY}` } });
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (m) => messages.push(JSON.parse(m.toString())));
    await new Promise((r) => ws.once('open', r));
    await waitJob(s, ALICE_KEY, id, (j) => j.epoch >= 300);

    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    const exit = await s.exited;
    const elapsed = Date.now() - t0;
    expect(exit.code).toBe(0);
    // The deadline is a promise of the service, not a speed measurement: the drain must finish inside it.
    expect(elapsed).toBeLessThan(DEADLINE + 2000);
    expect(s.logs.some((l) => l.msg === 'draining')).toBe(true);

    // The stream got a final status message, then a close.
    const code = await closed;
    expect([1000, 1001, 1012]).toContain(code);
    const last = messages.at(-1)!;
    expect(last.type).toBe('status');
    expect(last.status).toBe('queued');
    // ...saying why the stream ends before the job did.
    expect((last as { closing?: string }).closing).toMatch(/^server_shutdown: .*continues when the server restarts.*reconnect/);
    const lastEpoch = messages.filter((m) => m.type === 'epoch').at(-1)!.epoch!;
    expect(lastEpoch).toBeGreaterThanOrEqual(300);

    // The running job was snapshotted where it stopped and waits, queued, for the next process.
    const store = new SqliteJobStore({ dataDir });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    const job = (await store.getJob('alice', id))!;
    expect(job.status).toBe('queued');
    const resume = await store.getResumeState(id);
    expect(resume?.epoch).toBe(job.epoch);
    expect(resume!.epoch).toBeGreaterThanOrEqual(lastEpoch);
    await store.close();

    // Restarted, it resumes from that snapshot and ends where an uninterrupted run ends.
    const s2 = await start(env);
    expect((await waitJob(s2, ALICE_KEY, id)).status).toBe('succeeded');
    expect(s2.logs.find((l) => l.msg === 'job resuming from snapshot' && l.jobId === id)?.epoch).toBe(resume!.epoch);
    const ref = await submit(s2, longSpec(EPOCHS));
    expect((await waitJob(s2, ALICE_KEY, ref)).status).toBe('succeeded');
    const a = await finalTensors(s2, id);
    const b = await finalTensors(s2, ref);
    for (const k of Object.keys(b)) expect(Buffer.from(a[k]!.buffer).equals(Buffer.from(b[k]!.buffer)), k).toBe(true);
    s2.proc.kill('SIGTERM');
    expect((await s2.exited).code).toBe(0);
  });

  it('refuses to listen on a non-loopback HOST without API keys, and warns loudly on loopback', async () => {
    const refused = await startServer({ DATA_DIR: tmp(), HOST: '0.0.0.0' }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused).not.toBeNull();
    expect(refused!.code).toBe(1);
    expect(refused!.stderr).toMatch(/refusing to start: HOST=0\.0\.0\.0 is not a loopback address and no API keys are configured/);
    expect(refused!.stderr).toMatch(/API_KEYS/);

    const open = await start({ DATA_DIR: tmp() });
    const warning = open.logs.find((l) => l.level >= 40 && /AUTHENTICATION IS DISABLED/.test(String(l.msg)));
    expect(warning).toBeDefined();
    expect((await open.call('GET', '/v1/jobs', null)).status).toBe(200);
    open.proc.kill('SIGTERM');
    await open.exited;

    const keyed = await start({ DATA_DIR: tmp(), HOST: '0.0.0.0', API_KEYS: TWO_TENANTS });
    expect((await keyed.call('GET', '/v1/jobs', null)).status).toBe(401);
    expect((await keyed.call('GET', '/v1/jobs', BOB_KEY)).status).toBe(200);
    // The access_token of a stream URL never reaches the logs.
    await keyed.call('GET', `/v1/jobs/x/stream?access_token=${BOB_KEY}`, null);
    keyed.proc.kill('SIGTERM');
    await keyed.exited;
    expect(JSON.stringify(keyed.logs)).not.toContain(BOB_KEY);
  });
  it('a second process on the same SQLite DATA_DIR refuses to start, naming the directory and the owner, and touches no job', async () => {
    const dataDir = tmp();
    const owner = await start({ DATA_DIR: dataDir, WORKERS: '1', API_KEYS: TWO_TENANTS });
    const id = await submit(owner, longSpec(100_000), ALICE_KEY);
    await waitJob(owner, ALICE_KEY, id, (j) => j.status === 'running' && j.epoch > 0);
    const before = await owner.call('GET', `/v1/jobs/${id}`, ALICE_KEY);
    const refused = await startServer({ DATA_DIR: dataDir, WORKERS: '1', API_KEYS: TWO_TENANTS }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused).not.toBeNull();
    expect(refused!.code).toBe(1);
    expect(refused!.stderr).toContain(`the data directory ${dataDir} is in use by process ${owner.proc.pid}`);
    expect(refused!.stderr).toMatch(/DATABASE_URL/);
    // The owner's running job was not re-queued, re-claimed or restarted by the refused process.
    const after = await owner.call('GET', `/v1/jobs/${id}`, ALICE_KEY);
    expect(after.json.status).toBe('running');
    expect(after.json.epoch).toBeGreaterThanOrEqual(before.json.epoch);
    expect(owner.logs.filter((l) => l.msg === 'job started' && l.jobId === id)).toHaveLength(1);
    // Once the owner is gone (even by SIGKILL), the directory can be taken over and the job resumes there.
    owner.proc.kill('SIGKILL');
    await owner.exited;
    const next = await start({ DATA_DIR: dataDir, WORKERS: '1', API_KEYS: TWO_TENANTS });
    await waitJob(next, ALICE_KEY, id, (j) => j.status === 'running');
    await next.call('POST', `/v1/jobs/${id}/cancel`, ALICE_KEY);
    await waitJob(next, ALICE_KEY, id);
  });
});
