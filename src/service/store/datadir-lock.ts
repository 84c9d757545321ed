/**
 * Embedded mode has one owner: a second process on the same SQLite DATA_DIR would claim and train the first one's
 * jobs. The owner holds an exclusive SQLite lock on `DATA_DIR/owner.lock` for as long as it runs: an OS file lock,
 * so it dies with the process (SIGKILL, crash, power loss) and no stale lock outlives its owner, even when the next
 * owner has the same pid (pid 1 in a container). `owner.json` beside it names the owner for the refusal message.
 */
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): void;
}

export function acquireDataDirLock(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  const lockPath = join(dir, 'owner.lock');
  const infoPath = join(dir, 'owner.json');
  const db = new Database(lockPath, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The exclusive lock is taken by the first write and held until the connection closes.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS owner (pid INTEGER); COMMIT;');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    let owner = 'another process';
    try {
      const info = JSON.parse(readFileSync(infoPath, 'utf8')) as { pid: number; host: string; startedAt: string };
      owner = `process ${info.pid} on ${info.host} (started ${info.startedAt})`;
    } catch {
      // No owner file yet: the other process is starting.
    }
    throw new DataDirLockedError(
      `the data directory ${dir} is in use by ${owner}: one process owns an embedded (SQLite) data directory. ` +
        `Stop it, use another DATA_DIR, or run several nodes on PostgreSQL (DATABASE_URL, ROLE=api|worker)`,
    );
  }
  writeFileSync(infoPath, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }) + '\n');
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      db.close();
    },
  };
}
