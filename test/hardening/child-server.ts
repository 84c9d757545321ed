/**
 * A real server process (`node --single-threaded-gc dist/src/service/main.js`, see src/service/node-flags.ts) for crash and shutdown tests: temp DATA_DIR, an
 * ephemeral port read back from the start-up log line, JSON logs collected, and helpers to call it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SERVER_NODE_FLAGS } from '../../src/service/node-flags.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/src/service/main.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** `npm test` builds first; a single file run (npx vitest run ...) may find dist/ missing or stale. */
let built = false;
export function ensureBuilt(): void {
  if (built) return;
  built = true;
  const sources = Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'workers')));
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= sources) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // tsc emits even with type errors elsewhere in the tree; what matters is that main.js exists.
  }
  if (!existsSync(MAIN)) throw new Error('dist/src/service/main.js is missing: run npm run build');
}

export interface LogLine {
  level: number;
  msg?: string;
  [k: string]: unknown;
}

export interface ChildServer {
  proc: ChildProcess;
  port: number;
  base: string;
  logs: LogLine[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  call(method: string, path: string, key: string | null, body?: unknown): Promise<{ status: number; json: any; bytes: Buffer; headers: Headers }>;
}

/** Starts the server; resolves once it listens, rejects (with its stderr) if it exits first. */
export function startServer(env: Record<string, string>): Promise<ChildServer> {
  ensureBuilt();
  // Started as npm start and the image start it (the same V8 flags), so the process tests cover what ships.
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let err = '';
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolvePromise, reject) => {
    let ready = false;
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue;
        }
        logs.push(parsed);
        const m = !ready && typeof parsed.msg === 'string' ? /serving on http:\/\/[^:]+:(\d+)/.exec(parsed.msg) : null;
        if (m) {
          ready = true;
          const port = Number(m[1]);
          const base = `http://127.0.0.1:${port}`;
          resolvePromise({
            proc,
            port,
            base,
            logs,
            stderr: () => err,
            exited,
            async call(method, path, key, body) {
              const headers: Record<string, string> = {};
              if (key) headers.authorization = `Bearer ${key}`;
              if (body !== undefined) headers['content-type'] = 'application/json';
              const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
              const bytes = Buffer.from(await res.arrayBuffer());
              let json: unknown = null;
              try {
                json = JSON.parse(bytes.toString('utf8'));
              } catch {
                /* binary */
              }
              return { status: res.status, json, bytes, headers: res.headers };
            },
          });
        }
      }
    });
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    void exited.then(({ code, signal }) => {
      if (!ready) reject(Object.assign(new Error(`server exited (${code ?? signal}) before listening: ${err}`), { code, stderr: err }));
    });
  });
}

/** Polls GET /v1/jobs/:id until `until` holds. */
export async function waitJob(
  s: ChildServer,
  key: string,
  id: string,
  until: (j: any) => boolean = (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status),
  timeoutMs = 120_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.call('GET', `/v1/jobs/${id}`, key);
    if (r.status !== 200) throw new Error(`GET /v1/jobs/${id}: ${r.status} ${r.bytes.toString()}`);
    if (until(r.json)) return r.json;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${r.json.status} at epoch ${r.json.epoch}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}
