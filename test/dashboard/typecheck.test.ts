/** The dashboard's modules are plain JavaScript served as they are; tsc still checks them against the DOM and uPlot. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

test('public/js type-checks (tsc -p test/dashboard/tsconfig.public.json)', async () => {
  const result = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'test/dashboard/tsconfig.public.json')], { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
  expect(result.out).toBe('');
  expect(result.code).toBe(0);
});
