import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore, SqliteJobStore } from '../../src/service/store/sqlite.js';
import { newJobRecord } from '../../src/service/jobs/records.js';
import type { JobRecord, JobStore } from '../../src/service/jobs/types.js';
import type { JobSpec } from '../../src/spec/job-spec.js';

const dirs: string[] = [];
const stores: JobStore[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'gradloom-store-'));
  dirs.push(d);
  return d;
}
function open(dataDir: string): JobStore {
  const s = createSqliteStore({ dataDir });
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let counter = 0;
function job(tenant: string, over: Partial<JobRecord> = {}): JobRecord {
  counter++;
  const spec: JobSpec = {
    model: { kind: 'linear_regression', inputDim: 1, outputDim: 1 },
    data: { kind: 'random', n: 4 },
    training: { epochs: 3, loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false } },
    seed: 1,
  } as JobSpec;
  const id = `job-${counter}-${Math.random().toString(36).slice(2)}`;
  return { ...newJobRecord({ id, tenant, spec, seed: 1, now: new Date().toISOString() }), name: `j${counter}`, ...over };
}

describe('SqliteJobStore', () => {
  it('creates, reads, updates and deletes a job, bumping version on each change', async () => {
    const s = open(tmp());
    const j = job('a');
    const { job: created, created: isNew } = await s.createJob(j);
    expect(isNew).toBe(true);
    expect(created).toEqual(j);
    const running = await s.updateJob(j.id, { status: 'running', startedAt: '2026-01-01T00:00:00.000Z' });
    expect(running.status).toBe('running');
    expect(running.version).toBe(2);
    expect((await s.getJob('a', j.id))!.startedAt).toBe('2026-01-01T00:00:00.000Z');
    await s.appendEpochs(j.id, [
      { epoch: 1, loss: 3, elapsedMs: 1 },
      { epoch: 2, loss: 2, elapsedMs: 2 },
    ]);
    await s.putCheckpoint(j.id, { epoch: 2, kind: 'periodic', createdAt: 'x', bytes: 3 }, new Uint8Array([1, 2, 3]));
    expect(await s.deleteJob('a', j.id)).toBe(true);
    expect(await s.getJob('a', j.id)).toBeNull();
    expect(await s.getEpochs(j.id)).toEqual([]);
    expect(await s.listCheckpoints(j.id)).toEqual([]);
    expect(await s.deleteJob('a', j.id)).toBe(false);
    await expect(s.updateJob('nope', { status: 'failed' })).rejects.toThrow(/nope not found/);
  });

  it('returns the same job for a repeated idempotency key, per tenant', async () => {
    const s = open(tmp());
    const first = await s.createJob(job('a'), 'key-1');
    const again = await s.createJob(job('a'), 'key-1');
    expect(again.created).toBe(false);
    expect(again.job.id).toBe(first.job.id);
    const otherTenant = await s.createJob(job('b'), 'key-1');
    expect(otherTenant.created).toBe(true);
    expect(otherTenant.job.id).not.toBe(first.job.id);
    expect((await s.findJobByIdempotencyKey('a', 'key-1'))!.id).toBe(first.job.id);
    expect(await s.findJobByIdempotencyKey('c', 'key-1')).toBeNull();
  });

  it('paginates newest first with cursors that stay stable when jobs are inserted between pages', async () => {
    const s = open(tmp());
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await s.createJob(job('a'))).job.id);
    await s.createJob(job('b'));
    const p1 = await s.listJobs({ tenant: 'a', limit: 3 });
    expect(p1.items.map((j) => j.id)).toEqual([ids[6], ids[5], ids[4]]);
    // Inserts between page requests must neither shift nor repeat later pages.
    await s.createJob(job('a'));
    await s.createJob(job('a'));
    const p2 = await s.listJobs({ tenant: 'a', limit: 3, cursor: p1.nextCursor! });
    expect(p2.items.map((j) => j.id)).toEqual([ids[3], ids[2], ids[1]]);
    const p3 = await s.listJobs({ tenant: 'a', limit: 3, cursor: p2.nextCursor! });
    expect(p3.items.map((j) => j.id)).toEqual([ids[0]]);
    expect(p3.nextCursor).toBeNull();
    expect((await s.listJobs({ tenant: 'a', limit: 3, cursor: 'garbage!' })).items).toEqual([]);
  });

  it('filters by status', async () => {
    const s = open(tmp());
    const a = (await s.createJob(job('a'))).job;
    await s.createJob(job('a'));
    await s.updateJob(a.id, { status: 'failed', error: { code: 'x', message: 'boom' } });
    const failed = await s.listJobs({ tenant: 'a', status: 'failed', limit: 10 });
    expect(failed.items.map((j) => j.id)).toEqual([a.id]);
    expect(failed.items[0]!.error).toEqual({ code: 'x', message: 'boom' });
  });

  it('isolates tenants on every getter', async () => {
    const s = open(tmp());
    const a = (await s.createJob(job('a'))).job;
    expect(await s.getJob('b', a.id)).toBeNull();
    expect((await s.listJobs({ tenant: 'b', limit: 10 })).items).toEqual([]);
    expect(await s.deleteJob('b', a.id)).toBe(false);
    expect(await s.getJob('a', a.id)).not.toBeNull();
    await s.createDataset({
      id: 'ds1', tenant: 'a', name: null, rows: 2, inputDim: 1, outputDim: 1, columns: null,
      createdAt: new Date().toISOString(), bytes: 0, x: [[1], [2]], y: [[3], [4]],
    });
    expect(await s.getDataset('b', 'ds1')).toBeNull();
    expect(await s.getDatasetRecord('b', 'ds1')).toBeNull();
    expect(await s.deleteDataset('b', 'ds1')).toBe(false);
    expect((await s.getDataset('a', 'ds1'))!.y).toEqual([[3], [4]]);
    expect((await s.tenantUsage('b')).bytes).toBe(0);
    const usage = await s.tenantUsage('a');
    expect(usage.queued).toBe(1);
    expect(usage.bytes).toBeGreaterThan(32);
  });

  it('keeps checkpoints: the final one wins, else the latest periodic; resume state is dropped when the job ends', async () => {
    const s = open(tmp());
    const j = (await s.createJob(job('a'))).job;
    const info = (epoch: number, kind: 'final' | 'periodic') => ({ epoch, kind, createdAt: 't', bytes: 1 });
    await s.putCheckpoint(j.id, info(1, 'periodic'), new Uint8Array([1]));
    await s.putCheckpoint(j.id, info(2, 'periodic'), new Uint8Array([2]), new Uint8Array([22]));
    expect(Array.from((await s.getCheckpoint(j.id))!.safetensors)).toEqual([2]);
    expect(Array.from((await s.getCheckpoint(j.id, 1))!.safetensors)).toEqual([1]);
    expect(await s.getCheckpoint(j.id, 7)).toBeNull();
    expect((await s.getResumeState(j.id))!.epoch).toBe(2);
    await s.putResumeState(j.id, 3, new Uint8Array([3]), new Uint8Array([33]));
    expect(Array.from((await s.getResumeState(j.id))!.resumeState)).toEqual([33]);
    await s.putCheckpoint(j.id, info(3, 'final'), new Uint8Array([9]));
    expect((await s.getCheckpoint(j.id))!.info.kind).toBe('final');
    expect((await s.listCheckpoints(j.id)).map((c) => `${c.kind}@${c.epoch}`)).toEqual([
      'periodic@1', 'periodic@2', 'final@3',
    ]);
    await s.updateJob(j.id, { status: 'succeeded' });
    expect(await s.getResumeState(j.id)).toBeNull();
  });

  it('re-appending epochs after a resume replaces them instead of failing', async () => {
    const s = open(tmp());
    const j = (await s.createJob(job('a'))).job;
    await s.appendEpochs(j.id, [{ epoch: 1, loss: 1, elapsedMs: 0 }, { epoch: 2, loss: 2, elapsedMs: 0 }]);
    await s.appendEpochs(j.id, [{ epoch: 2, loss: 2, elapsedMs: 5 }, { epoch: 3, loss: 3, elapsedMs: 6 }]);
    expect((await s.getEpochs(j.id)).map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect((await s.getEpochs(j.id, 2)).map((e) => e.loss)).toEqual([2, 3]);
    expect((await s.getEpochs(j.id, 1, 2)).map((e) => e.epoch)).toEqual([1, 2]);
    expect((await s.getEpochs(j.id, 3, 10)).map((e) => e.epoch)).toEqual([3]);
  });

  it('survives close and reopen of the same data directory, in WAL mode, at the current schema version', async () => {
    const dir = tmp();
    const s1 = open(dir);
    expect((s1 as SqliteJobStore).journalMode()).toBe('wal');
    const j = (await s1.createJob(job('a'), 'k')).job;
    await s1.appendEpochs(j.id, [{ epoch: 1, loss: 0.5, elapsedMs: 3 }]);
    await s1.putCheckpoint(j.id, { epoch: 1, kind: 'final', createdAt: 't', bytes: 2 }, new Uint8Array([7, 8]));
    await s1.updateJob(j.id, { status: 'succeeded', epoch: 1, lastLoss: 0.5 });
    await s1.close();

    const s2 = open(dir);
    const back = (await s2.getJob('a', j.id))!;
    expect(back.status).toBe('succeeded');
    expect(back.lastLoss).toBe(0.5);
    expect(await s2.getEpochs(j.id)).toEqual([{ epoch: 1, loss: 0.5, elapsedMs: 3 }]);
    expect(Array.from((await s2.getCheckpoint(j.id))!.safetensors)).toEqual([7, 8]);
    expect((await s2.createJob(job('a'), 'k')).created).toBe(false);
    await s2.close();

    const raw = new Database(join(dir, 'gradloom.db'), { readonly: true });
    expect(raw.prepare('SELECT version FROM schema_version').get()).toEqual({ version: 1 });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
  });

  it('lists unfinished jobs of every tenant, oldest first', async () => {
    const s = open(tmp());
    const a = (await s.createJob(job('a'))).job;
    const b = (await s.createJob(job('b', { status: 'running' }))).job;
    const c = (await s.createJob(job('c'))).job;
    await s.updateJob(c.id, { status: 'cancelled' });
    expect((await s.listUnfinishedJobs()).map((j) => j.id)).toEqual([a.id, b.id]);
  });
});
