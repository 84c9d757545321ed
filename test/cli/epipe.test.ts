/**
 * Issue 11: `gradloom jobs | head -1` crashed with EPIPE one time in three (whenever the CLI wrote after `head`
 * had exited). Here the reader closes the pipe before the CLI writes anything, so every write meets EPIPE.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first write
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('output into a closed pipe ends quietly with the command exit code, not an EPIPE crash', async () => {
  for (let i = 0; i < 3; i++) {
    const { code, stderr } = await runWithClosedStdout(['--help']);
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  }
});
