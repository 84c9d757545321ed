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
import { existsSync, readdirSync, statSync } from 'node:fs';
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
    if (e.name === 'build') return [];
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
