#!/usr/bin/env node
// Compiles with the given tsconfig into a fresh output folder, then copies the non-TypeScript files of src/
// (the Python plugin host and anything else shipped beside the modules) to where the compiled modules are.
// `node scripts/build.mjs tsconfig.build.json dist` is the shipped build (src only); the test build
// (tsconfig.json, build/) also compiles test/ and bench/.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [tsconfig, outDir, srcOut = outDir] = process.argv.slice(2);
if (!tsconfig || !outDir) {
  console.error('usage: build.mjs TSCONFIG OUTDIR [OUTDIR_OF_SRC]');
  process.exit(2);
}
rmSync(join(root, outDir), { recursive: true, force: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, tsconfig)], { stdio: 'inherit', cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);

const walk = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  if (f === '__pycache__') return [];
  return statSync(p).isDirectory() ? walk(p) : [p];
});
for (const file of walk(join(root, 'src'))) {
  if (file.endsWith('.ts')) continue;
  cpSync(file, join(root, srcOut, relative(join(root, 'src'), file)));
}
