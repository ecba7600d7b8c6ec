import { lookup } from 'node:dns/promises';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Config } from '../config/config.js';
import type { ListenAddress } from '../config/schema.js';
import { parseYaml, type KeyPath } from '../config/yaml-source.js';
import { controlRequest } from '../control/control-protocol.js';
import { withDeadline } from '../core/deadline.js';
import { BastionError } from '../core/errors.js';
import { PluginHost } from '../plugins/plugin-host.js';
import { loadKey } from '../ssh2x/keys.js';

// `gatehouse check` is `serve` without serving: the same configuration checks, plus what serve finds only at
// start (listen addresses that do not resolve or cannot be bound, unreadable or insecure keys, plugins that
// do not load), and it writes nothing: keys that do not exist yet are reported, not generated, and plugins
// are loaded with a scratch state folder that is removed afterwards. Every problem is one line naming the
// file, the line and the key, after its code (`LISTEN_FAILED: config.yaml:3: listen.0: ...`).

export interface CheckReport {
  readonly ok: boolean;
  readonly lines: string[];
}

/** How long a listen host may take to resolve. */
const RESOLVE_MS = 5_000;

export async function checkConfig(config: Config): Promise<CheckReport> {
  const where = locator(config.file);
  const problems = [...(await probeListen(config)).map((p) => `LISTEN_FAILED: ${p}`), ...checkKeys(config, where)];
  const notes = missingKeys(config).map((k) => `${config.file}: note: ${k} does not exist yet; serve generates it at start`);
  problems.push(...(await checkPlugins(config, where)));
  return problems.length > 0 ? { ok: false, lines: problems } : { ok: true, lines: [...notes, `${config.file}: configuration and plugins are valid`] };
}

/** `file:line: key` for a key path of the configuration file. */
function locator(file: string): (path: KeyPath) => string {
  let lineOf: (path: KeyPath) => number | undefined = () => undefined;
  try {
    lineOf = parseYaml(readFileSync(file, 'utf8'), file).lineOf;
  } catch {
    // already parsed once by loadConfigFile; a file changed meanwhile only loses the line numbers
  }
  return (path) => `${file}:${lineOf(path) ?? 1}: ${path.length > 0 ? path.join('.') : '(top level)'}`;
}

/**
 * Each listen address (and the demo target's) resolves and can be bound: bound for a moment and closed at once.
 * An address in use by the Gatehouse running this configuration (its control socket answers) is fine.
 */
export async function probeListen(config: Config): Promise<string[]> {
  const where = locator(config.file);
  const all: [KeyPath, ListenAddress][] = config.listen.map((a, i) => [['listen', i], a]);
  if (config.demoTarget) all.push([['demo_target', 'listen'], config.demoTarget.listen]);
  const problems: string[] = [];
  let running: Promise<boolean> | undefined;
  for (const [path, a] of all) {
    const shown = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    let host = a.host;
    if (isIP(host) === 0) {
      try {
        host = (await withDeadline(lookup(host), RESOLVE_MS, () => new Error(`no answer within ${RESOLVE_MS / 1000} s`))).address;
      } catch (err) {
        problems.push(`${where(path)}: ${shown}: the host does not resolve (${(err as Error).message})`);
        continue;
      }
    }
    const why = await tryBind(host, a.port);
    if (why === 'EADDRINUSE') {
      running ??= controlRequest(config.controlSocket, { command: 'sessions' }, 2_000).then(() => true, () => false);
      if (await running) continue;
    }
    if (why) problems.push(`${where(path)}: ${shown}: cannot listen there (${describeBindError(why)})`);
  }
  return problems;
}

function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

function describeBindError(code: string): string {
  switch (code) {
    case 'EADDRINUSE': return 'the address is in use by another program';
    case 'EADDRNOTAVAIL': return 'no interface of this machine has that address';
    case 'EACCES': return 'ports below 1024 need privileges (CAP_NET_BIND_SERVICE)';
    default: return code;
  }
}

function keyFiles(config: Config): { path: string; key: KeyPath }[] {
  const files: { path: string; key: KeyPath }[] = [
    { path: join(config.keysDir, 'host_ed25519'), key: ['keys_dir'] },
    { path: join(config.keysDir, 'host_rsa'), key: ['keys_dir'] },
  ];
  config.policies.forEach((p, i) => {
    if (p.targetAuth.method === 'key') files.push({ path: p.targetAuth.keyFile, key: ['policies', i, 'target_auth', 'key'] });
  });
  if (config.demoTarget) files.push({ path: join(config.keysDir, 'demo_target_ed25519'), key: ['keys_dir'] });
  return files.filter((f, i) => files.findIndex((g) => g.path === f.path) === i);
}

function missingKeys(config: Config): string[] {
  return keyFiles(config).filter((f) => !existsSync(f.path)).map((f) => f.path);
}

/** Existing keys must load (readable, private to Gatehouse, unencrypted); missing ones are generated by serve. */
function checkKeys(config: Config, where: (path: KeyPath) => string): string[] {
  const problems: string[] = [];
  for (const f of keyFiles(config)) {
    if (!existsSync(f.path)) continue;
    try {
      loadKey(f.path);
    } catch (err) {
      problems.push(`${err instanceof BastionError ? err.code : 'HOST_KEY_INVALID'}: ${where(f.key)}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** Loads every plugin the policies name, with a scratch state folder (TypeScript plugins compile there). */
async function checkPlugins(config: Config, where: (path: KeyPath) => string): Promise<string[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
  const host = new PluginHost({
    pluginsDir: config.pluginsDir, stateDir: join(scratch, 'state'), ephemeralDir: join(scratch, 'run'),
    warmWorkers: 0, maxActive: 1, memoryMb: config.pluginPool.memoryMb, bounds: config.pluginPool, python: config.python,
    log: pino({ level: 'silent' }),
  });
  const problems: string[] = [];
  try {
    for (const [i, p] of config.policies.entries()) {
      const uses: [KeyPath, string, 'aa' | 'credentialstore'][] = [];
      if (p.aaPlugin) uses.push([['policies', i, 'aa_plugin', 'name'], p.aaPlugin.name, 'aa']);
      if (p.targetAuth.method === 'credential_store') uses.push([['policies', i, 'credential_store', 'name'], p.targetAuth.store.name, 'credentialstore']);
      for (const [path, name, type] of uses) {
        try {
          await host.load(name, type);
        } catch (err) {
          const e = err instanceof BastionError ? err : new BastionError('PLUGIN_LOAD_FAILED', (err as Error).message);
          problems.push(`${e.code}: ${where(path)}: ${e.message.split('\n').join(' ')}`);
        }
      }
    }
  } finally {
    await host.close(true);
    rmSync(scratch, { recursive: true, force: true });
  }
  return problems;
}
