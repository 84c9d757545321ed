/** Running Python programs from tests: Debian's /usr/bin/python3, with or without torch. */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

/** Whether /usr/bin/python3 can import `module` (torch: Debian's python3-torch). */
export function pythonImports(module: string): boolean {
  try {
    execFileSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

export interface ScriptOutput {
  /** Lines that start with an epoch number, as numbers: [epoch, loss] or [epoch, loss, valLoss]. */
  rows: number[][];
  /** Every other line. */
  other: string[];
  stderr: string;
}

/** Writes `source` as dir/name.py and runs it there; rejects with its stderr when it fails. */
export function runPythonScript(source: string, dir: string, name: string, env: Record<string, string> = {}): Promise<ScriptOutput> {
  const file = join(dir, `${name}.py`);
  writeFileSync(file, source);
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [file], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 240_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${name}.py failed: ${stderr || err.message}`));
      const lines = stdout.trim().split('\n');
      resolve({
        rows: lines.filter((l) => /^\d+ /.test(l)).map((l) => l.split(' ').map(Number)),
        other: lines.filter((l) => !/^\d+ /.test(l)),
        stderr,
      });
    });
  });
}
