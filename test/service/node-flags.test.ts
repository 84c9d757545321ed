/**
 * The server's V8 flags (src/service/node-flags.ts) are read only at start-up, so they live on each launcher's command
 * line: npm start, the image's CMD and the service benchmark. This keeps them from drifting apart, and checks that
 * this Node accepts them (an unknown V8 flag stops `node` before any of our code runs).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../src/service/node-flags.js';

const ROOT = resolve(import.meta.dirname, '../..');
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const dockerCmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

describe('the server process starts with SERVER_NODE_FLAGS', () => {
  test('npm start, the Dockerfile CMD and npm run bench:service pass every flag to node, before the script', () => {
    expect(SERVER_NODE_FLAGS.length).toBeGreaterThan(0);
    expect(dockerCmd).not.toBeNull();
    const cmd = JSON.parse(dockerCmd![1]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.slice(1, 1 + SERVER_NODE_FLAGS.length)).toEqual([...SERVER_NODE_FLAGS]);
    expect(cmd.at(-1)).toBe('dist/src/service/main.js');
    expect(scripts.start).toBe(`node ${SERVER_NODE_FLAGS.join(' ')} scripts/start.mjs`);
    expect(scripts['bench:service']).toContain(`node --expose-gc ${SERVER_NODE_FLAGS.join(' ')} dist/bench/service-run.js`);
  });

  test('this Node accepts them, in the main thread and in worker threads', () => {
    const script = `const { Worker } = require('node:worker_threads');
      new Worker('require("node:worker_threads").parentPort.postMessage(process.execArgv)', { eval: true }).on('message', (m) => console.log(JSON.stringify(m)));`;
    const out = execFileSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS]));
  });
});
