import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_API_VERSION } from '../core/version.js';
import type { TryIo } from './plugin-try.js';

// `gatehouse plugin new NAME [--python | --sdk | --typescript]`: a plugin folder from templates/plugin/<flavour>
// (NAME and the plugin API filled in) that passes `gatehouse plugin check` and carries its own test, which
// runs `gatehouse plugin try --answers`.

export type Flavour = 'javascript' | 'typescript' | 'python' | 'sdk';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** templates/plugin in the package, found from this file both in src/ and in dist/src/. */
function templatesRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); dirname(d) !== d; d = dirname(d)) {
    const t = join(d, 'templates', 'plugin');
    if (existsSync(t)) return t;
  }
  throw new Error('templates/plugin not found in the Gatehouse package');
}

function files(root: string): string[] {
  return readdirSync(root, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}

export function newPlugin(target: string, flavour: Flavour, io: TryIo): number {
  const dir = resolve(target);
  const name = basename(dir);
  if (!NAME.test(name)) {
    io.err(`gatehouse plugin new: "${name}" is not a plugin name (letters, digits and _, starting with a letter); the folder is named as the plugin\n`);
    return 2;
  }
  if (existsSync(dir)) {
    io.err(`gatehouse plugin new: ${dir} exists already\n`);
    return 1;
  }
  const src = join(templatesRoot(), flavour);
  const api = `${PLUGIN_API_VERSION.major}.${PLUGIN_API_VERSION.minor}`;
  for (const f of files(src)) {
    const text = readFileSync(join(src, f), 'utf8').replaceAll('__NAME__', name).replaceAll('__API__', api);
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  const test = flavour === 'python' || flavour === 'sdk' ? 'python3 -m unittest discover -s tests' : 'node --test test/';
  io.out(`created ${dir} (${flavour})\n  gatehouse plugin check ${target}\n  gatehouse plugin try ${target}\n  cd ${target} && ${test}\n` +
    (flavour === 'sdk' ? '  (needs the safeguard.sessions.plugin package that Gatehouse provides to Python plugins)\n' : ''));
  return 0;
}
