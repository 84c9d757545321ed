#!/usr/bin/env node
// `npm start`: build when the compiled output is missing or older than the sources, then serve on the defaults.
import { execSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/service/main.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sourcesMtime = Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'workers')));
if (!existsSync(entry) || statSync(entry).mtimeMs < sourcesMtime) {
  console.error('gradloom: building (npm run build)...');
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
} else {
  // The optional native accelerator has its own sources (native/): rebuilt when they changed, a no-op otherwise,
  // and only a warning without a C compiler.
  execSync(`"${process.execPath}" scripts/build-native.mjs`, { cwd: root, stdio: 'inherit' });
}
await import(entry);
