import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { BastionError } from '../core/errors.js';

// TypeScript plugins are compiled once per plugin version and content (never per call): every .ts/.mts file
// of the plugin folder is transpiled into a cache folder keyed by name, version and a hash of the sources,
// and the plugin's other files (plain .js helpers, JSON data) are copied beside them, so that relative imports
// find what they found in the source folder. The compiler is loaded only when a TypeScript plugin exists.

export async function compileTsPlugin(dir: string, name: string, version: string, cacheRoot: string): Promise<string> {
  const all = listFiles(dir);
  const files = all.filter((f) => /\.m?ts$/.test(f) && !f.endsWith('.d.ts'));
  const hash = createHash('sha256');
  for (const f of all) hash.update(f).update('\0').update(readFileSync(join(dir, f))).update('\0');
  const out = join(cacheRoot, `${name}-${version.replace(/[^A-Za-z0-9_.-]/g, '_')}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(join(out, '.complete'))) return out;

  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch (err) {
    throw new BastionError('PLUGIN_LOAD_FAILED',
      `${dir}: TypeScript plugin needs the "typescript" package to compile it (npm install typescript)`, { cause: err });
  }
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const f of files) {
    const source = readFileSync(join(dir, f), 'utf8');
    const result = ts.transpileModule(source, {
      fileName: f,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
    });
    const errors = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) {
      const text = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ');
      throw new BastionError('PLUGIN_LOAD_FAILED', `${join(dir, f)}: TypeScript error: ${text}`);
    }
    const target = join(tmp, f.replace(/\.mts$/, '.mjs').replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, result.outputText);
  }
  for (const f of all.filter((x) => !files.includes(x))) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    copyFileSync(join(dir, f), join(tmp, f));
  }
  writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
  // Let compiled code resolve the plugin's own dependencies.
  if (existsSync(join(dir, 'node_modules'))) symlinkSync(join(dir, 'node_modules'), join(tmp, 'node_modules'), 'dir');
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return out;
}

function listFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== 'package.json') found.push(relative(root, p));
    }
  };
  walk(root);
  return found.sort();
}
