import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import pino from 'pino';
import { BastionError } from '../core/errors.js';
import { parseManifest } from '../plugins/manifest.js';
import { missingExpectedHooks, PluginHost } from '../plugins/plugin-host.js';

// `gatehouse plugin check DIR`: validates a plugin folder the way Gatehouse loads it (MANIFEST, entry point
// imports, hooks present) and reports in plain text. Nothing is written outside a temp dir.

export interface CheckReport {
  readonly ok: boolean;
  readonly lines: string[];
}

export async function checkPluginDir(dirArg: string, python: string): Promise<CheckReport> {
  const dir = resolve(dirArg);
  const manifestFile = join(dir, 'MANIFEST');
  if (!existsSync(manifestFile)) return { ok: false, lines: [`${dir}: no MANIFEST file`] };
  const check = parseManifest(readFileSync(manifestFile, 'utf8'), manifestFile);
  if (!check.ok) return { ok: false, lines: check.errors };
  const m = check.manifest;
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
  const host = new PluginHost({
    pluginsDir: dirname(dir), stateDir: join(scratch, 'state'), ephemeralDir: join(scratch, 'run'),
    warmWorkers: 0, maxActive: 1, memoryMb: 256, python, log: pino({ level: 'silent' }),
  });
  try {
    if (basename(dir) !== m.name) {
      return { ok: false, lines: [`${dir}: the folder must be named as the plugin ("${m.name}"), as Gatehouse looks plugins up by folder`] };
    }
    const plugin = await host.load(m.name, m.type);
    const lines = [
      `${m.name} ${m.version}: ${m.type === 'aa' ? 'AA plugin' : 'credential store'}, plugin API ${m.api}, ${plugin.runtime}`,
      `hooks: ${[...plugin.hooks].sort().join(', ')}`,
      ...missingExpectedHooks(m.type, plugin.hooks).map((h) => `warning: no ${h} method (${h === 'authorize' ? 'every login would fail at authorize' : 'it will be skipped'})`),
      'ok',
    ];
    return { ok: true, lines };
  } catch (err) {
    return { ok: false, lines: [err instanceof BastionError ? err.message : String(err)] };
  } finally {
    await host.close(true);
    rmSync(scratch, { recursive: true, force: true });
  }
}
