/**
 * The SQLite store survives a crash at any point: a child process writes as fast as it can (jobs, epoch batches,
 * checkpoint BLOBs, status changes, datasets) and is SIGKILLed at different moments; on reopen
 * `PRAGMA integrity_check` is 'ok' and every write the child acknowledged (printed after the call returned) is there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../src/service/store/sqlite.js';
import { unpackMatrix } from '../../src/service/store/codec.js';

const WRITER = join(import.meta.dirname, 'fixtures/sqlite-writer.ts');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Ack {
  kind: string;
  id: string;
  value: number;
}

/** Runs the writer until it has acknowledged `afterAcks` writes, then SIGKILLs it mid-stream. */
function runAndKill(dataDir: string, afterAcks: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: join(import.meta.dirname, '../..'),
    });
    const acks: Ack[] = [];
    let buffer = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = /^ack (\w+) (\S+) (\d+)$/.exec(line);
        if (m) acks.push({ kind: m[1]!, id: m[2]!, value: Number(m[3]) });
        if (!killed && acks.length >= afterAcks) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}/${signal} before the kill: ${stderr}`));
      else resolve(acks);
    });
  });
}

describe('SQLite store under SIGKILL', () => {
  // Kill after different numbers of acknowledged writes so the kill lands in different kinds of transaction;
  // each round reuses the same database, so later rounds also reopen a previously crashed file.
  const dataDir = mkdtempSync(join(tmpdir(), 'gl-crash-'));
  dirs.push(dataDir);
  for (const afterAcks of [37, 151, 403]) {
    it(`keeps an intact database with every acknowledged write (kill after ${afterAcks} acks)`, async () => {
      const acks = await runAndKill(dataDir, afterAcks);
      expect(acks.length).toBeGreaterThanOrEqual(afterAcks);

      const store = new SqliteJobStore({ dataDir });
      try {
        expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(store.db.pragma('foreign_key_check')).toEqual([]);
        expect(store.journalMode()).toBe('wal');
        for (const a of acks) {
          if (a.kind === 'dataset') {
            const ds = await store.getDataset('alice', a.id);
            expect(ds?.record.rows, a.id).toBe(200);
            expect(unpackMatrix(ds!.rows.y, 200, 1)[199]).toEqual([199 * 3]);
            continue;
          }
          const tenant = Number(a.id.split('-').pop()) % 2 ? 'alice' : 'bob';
          const job = await store.getJob(tenant, a.id);
          expect(job, `${a.kind} ${a.id}`).not.toBeNull();
          if (a.kind === 'epochs') {
            expect(job!.epoch).toBeGreaterThanOrEqual(a.value);
            const epochs = await store.getEpochs(a.id);
            expect(epochs.length).toBeGreaterThanOrEqual(a.value);
            expect(epochs.slice(0, a.value).map((e) => e.epoch)).toEqual(Array.from({ length: a.value }, (_, k) => k + 1));
          }
          if (a.kind === 'checkpoint') {
            const infos = await store.listCheckpoints(a.id);
            expect(infos.map((c) => c.epoch)).toContain(a.value);
            const ck = await store.getCheckpoint(a.id, a.value);
            expect(ck?.safetensors.byteLength).toBe(ck?.info.bytes);
            // A finished job drops its resume state; an unfinished one keeps the newest.
            if (job!.status !== 'succeeded') {
              const resume = await store.getResumeState(a.id);
              expect(resume?.epoch).toBeGreaterThanOrEqual(a.value);
              expect(resume?.resumeState.byteLength).toBe(16 * 1024);
            }
          }
          if (a.kind === 'done') expect(job!.status).toBe('succeeded');
        }
      } finally {
        await store.close();
      }
    });
  }
});
