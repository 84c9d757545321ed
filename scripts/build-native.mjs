#!/usr/bin/env node
/**
 * Builds the optional native accelerator (native/ -> native/build/Release/gradloom_native.node) with node-gyp.
 *
 * The addon is never required: without a C compiler (e.g. the slim Docker image) this prints one warning line and
 * exits 0, and the engine runs on WebAssembly. GRADLOOM_REQUIRE_NATIVE=1 (CI) turns that into a failure.
 * The rebuild is skipped when the .node is newer than every source file (npm test builds every time).
 * node-gyp: the project's own if installed, else the copy bundled with npm (it builds offline against the headers
 * in `npm config get nodedir`, /usr/include/node on Debian's nodejs).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'native');
const output = path.join(dir, 'build', 'Release', 'gradloom_native.node');
const required = process.env.GRADLOOM_REQUIRE_NATIVE === '1';
const force = process.argv.includes('--force');

function sources(d) {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'build' || e.name === 'build.lock') return [];
    const p = path.join(d, e.name);
    return e.isDirectory() ? sources(p) : [p];
  });
}

function upToDate() {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return sources(dir).every((f) => statSync(f).mtimeMs <= built) && statSync(fileURLToPath(import.meta.url)).mtimeMs <= built;
}

function nodeGyp() {
  const req = createRequire(import.meta.url);
  try {
    return req.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // not a project dependency: use npm's bundled copy (npm_execpath is npm-cli.js when run by npm)
  }
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

function fail(reason) {
  if (required) {
    console.error(`build-native: ${reason} (GRADLOOM_REQUIRE_NATIVE=1)`);
    process.exit(1);
  }
  console.warn(`build-native: warning: native accelerator not built (${reason}); using WebAssembly kernels`);
  process.exit(0);
}

if (process.env.GRADLOOM_NATIVE === '0' && !required) {
  console.warn('build-native: skipped (GRADLOOM_NATIVE=0)');
  process.exit(0);
}
if (!existsSync(path.join(dir, 'binding.gyp'))) fail('native/binding.gyp is missing');
if (!force && upToDate()) process.exit(0);

/*
 * One build at a time: several `npm test` runs in one checkout would otherwise run make in the same build directory
 * together. The lock file holds the builder's pid; a lock whose process is gone is taken over.
 */
const lock = path.join(dir, 'build.lock');
function tryLock() {
  try {
    const fd = openSync(lock, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    let pid = 0;
    try {
      pid = Number(readFileSync(lock, 'utf8'));
      if (pid > 0) process.kill(pid, 0);
      return false; // held by a live builder
    } catch {
      rmSync(lock, { force: true }); // its builder is gone (or the file was unreadable): take it over
      return false;
    }
  }
}
const deadline = Date.now() + 180_000;
while (!tryLock()) {
  if (Date.now() > deadline) fail('another build of the native addon holds native/build.lock');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
  if (!force && upToDate()) process.exit(0); // the other builder finished it
}
process.on('exit', () => rmSync(lock, { force: true }));

const gyp = nodeGyp();
if (!gyp) fail('node-gyp not found');
const args = [gyp, 'rebuild', '--release'];
// Build against the running Node's headers (no download): npm passes its nodedir setting down; otherwise the
// installation prefix of this node (/usr for Debian's nodejs, /usr/local in the official Docker images).
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : '');
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
if (r.status !== 0) {
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n');
  const firstError = log.find((l) => /error/i.test(l)) ?? log.at(-1) ?? String(r.error ?? 'unknown error');
  if (required) console.error(log.slice(-30).join('\n'));
  fail(`node-gyp failed: ${firstError.trim()}`);
}
if (!existsSync(output)) fail(`node-gyp succeeded but ${path.relative(root, output)} is missing`);
console.log(`build-native: built ${path.relative(root, output)}`);
