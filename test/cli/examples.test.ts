/**
 * What a newcomer runs: examples/two_layer_net.json and examples/linear_regression.json through `gradloom submit`
 * (the compiled bin, a real server), and examples/client.py (stdlib HTTP + torch) against the same server.
 */
import { execFile, execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jobSpecSchema } from '../../src/spec/job-spec.js';
import { regressionSpec, twoLayerSpec } from '../helpers/app.js';
import { startLiveServer, type LiveServer } from '../helpers/live-server.js';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'dist/src/cli/main.js');
const EXAMPLES = join(ROOT, 'examples');
const FIXTURES = join(ROOT, 'test/fixtures/pytorch');
const KEY = 'examples-test-key-0123456789abcdef';
const fixtureLosses = (name: string) => (JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as { losses: number[] }).losses;

let server: LiveServer;
let dir: string;

function run(file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: dir, env: { PATH: process.env.PATH ?? '', GRADLOOM_URL: server.url, GRADLOOM_API_KEY: KEY, ...env }, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((p) => newestMtime(join(path, p))));
}

beforeAll(async () => {
  // As in cli.test.ts: when this file runs alone on stale output, build so that the bin is the code under test.
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < newestMtime(join(ROOT, 'src'))) execSync('npm run build', { cwd: ROOT, stdio: 'ignore' });
  server = await startLiveServer({ apiKey: KEY });
  dir = mkdtempSync(join(tmpdir(), 'gradloom-examples-'));
}, 180_000);
afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the example specs are valid job specs, and the tutorial jobs of the README', () => {
  for (const [file, spec] of [['two_layer_net.json', twoLayerSpec], ['linear_regression.json', regressionSpec]] as const) {
    const parsed = jobSpecSchema.safeParse(JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')));
    expect(parsed.success, file).toBe(true);
    const { name: _a, ...ours } = parsed.data!;
    const { name: _b, ...tutorial } = jobSpecSchema.parse(spec);
    expect(ours).toEqual(tutorial);
  }
});

describe('gradloom submit examples/*.json --follow', () => {
  for (const [file, fixture] of [['linear_regression.json', 'linear_regression'], ['two_layer_net.json', 'two_layer_autograd']] as const) {
    test(`${file}: succeeds with PyTorch's final loss`, async () => {
      const r = await run(process.execPath, [BIN, 'submit', join(EXAMPLES, file), '--follow', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      const job = JSON.parse(lines[lines.length - 1]) as { status: string; lastLoss: number; epoch: number };
      const losses = fixtureLosses(fixture);
      expect(job).toMatchObject({ status: 'succeeded', epoch: losses.length });
      expect(job.lastLoss).toBe(losses[losses.length - 1]);
    }, 240_000);
  }
});

function importable(module: string): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}
const hasTorch = importable('torch');
const hasSafetensors = hasTorch && importable('safetensors');

// Skipped, with this reason, where /usr/bin/python3 cannot import torch (Debian: apt-get install python3-torch).
describe.skipIf(!hasTorch)('examples/client.py against a real server', () => {
  const client = (env: Record<string, string> = {}) =>
    run('/usr/bin/python3', [join(EXAMPLES, 'client.py'), join(EXAMPLES, 'linear_regression.json'), '-o', 'model.safetensors'], env);

  test("the stdlib safetensors reader: follows every epoch, loads the checkpoint strictly, predicts as the server", async () => {
    const r = await client({ GRADLOOM_NO_SAFETENSORS: '1' });
    expect(r.code, r.stderr).toBe(0);
    // Every epoch once, in order, with the losses PyTorch printed.
    const rows = r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(rows.map((row) => row[0])).toEqual(fixtureLosses('linear_regression').map((_, i) => i + 1));
    expect(rows.map((row) => row[1])).toEqual(fixtureLosses('linear_regression'));
    expect(r.stderr).toContain('loaded model.safetensors with read_safetensors (the safetensors package is not installed): weight [1, 1], bias [1]');
    const diff = Number(/max difference (\S+) \(relative\)/.exec(r.stderr)?.[1]);
    expect(diff).toBeLessThanOrEqual(1e-6);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
  }, 240_000);

  // Only where the safetensors package is installed (Debian has no python3-safetensors; pip install safetensors).
  test.skipIf(!hasSafetensors)('with the safetensors package: safetensors.torch.load_file', async () => {
    const r = await client();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('loaded model.safetensors with safetensors.torch.load_file');
  }, 240_000);

  test('an API error exits non-zero with the API\'s message', async () => {
    const r = await run('/usr/bin/python3', [join(EXAMPLES, 'client.py'), join(EXAMPLES, 'linear_regression.json')], { GRADLOOM_API_KEY: 'wrong' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/POST \/v1\/jobs -> HTTP 401 \w+: /);
  }, 60_000);
});
