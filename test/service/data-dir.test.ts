/**
 * Issue 11: a DATA_DIR the server cannot write fails at start with the path and the cause, not SQLite's bare
 * "unable to open database file". Runs in a child process as an unprivileged user when the tests run as root
 * (root writes through any permission bits).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'gradloom-ro-'));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function openStoreAs(dataDir: string): string {
  const code = `import('./src/service/store/sqlite.ts').then((m) => {
    try { m.createSqliteStore({ dataDir: ${JSON.stringify(dataDir)} }).close(); console.log('opened'); }
    catch (e) { console.log(e.message); }
  })`;
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: process.cwd(), encoding: 'utf8', ...asNobody });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('an unusable DATA_DIR', () => {
  it('read-only: the error names the database path, DATA_DIR and the cause', () => {
    const dir = join(root, 'readonly');
    rmSync(dir, { recursive: true, force: true });
    spawnSync('mkdir', ['-m', '555', dir]);
    const message = openStoreAs(dir);
    expect(message).toBe(
      `cannot open the database ${dir}/gradloom.db in DATA_DIR=${dir}: unable to open database file; the directory is not writable by this process (uid ${process.getuid?.() === 0 ? 65534 : process.getuid?.()}) (read-only mount or permissions); SQLite needs to create its journal files next to the database`,
    );
  });

  it('a writable one opens', () => {
    const dir = join(root, 'writable');
    spawnSync('mkdir', ['-m', '777', dir]);
    expect(openStoreAs(dir)).toBe('opened');
  });
});
