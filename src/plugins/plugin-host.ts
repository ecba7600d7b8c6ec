import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { BastionError } from '../errors.js';
import type { HookName, JsonObject, PluginType } from './contract.js';
import { parseManifest, type Manifest } from './manifest.js';
import { compileTsPlugin } from './ts-compile.js';
import { WorkerPool, type HookOutcome, type PoolOptions } from './worker-pool.js';

// Loads plugins from plugins_dir (one folder per plugin, named as its MANIFEST `name`) and runs their hooks
// off the main event loop. Loading refuses a plugin with the reason; calling never throws: a plugin failure
// is a coded HookOutcome.

export interface PluginHostOptions {
  readonly pluginsDir: string;
  readonly stateDir: string;
  readonly ephemeralDir: string;
  readonly warmWorkers: number;
  readonly memoryMb: number;
  readonly log: Logger;
}

const REQUIRED_HOOKS: Record<PluginType, readonly string[]> = { aa: ['authenticate'], credentialstore: [] };
const EXPECTED_HOOKS: Record<PluginType, readonly string[]> = { aa: ['authenticate', 'authorize', 'session_ended'], credentialstore: [] };

export class PluginHandle {
  constructor(
    readonly manifest: Manifest,
    readonly dir: string,
    readonly hooks: ReadonlySet<string>,
    private readonly pool: WorkerPool,
  ) {}

  has(hook: HookName): boolean {
    return this.hooks.has(hook);
  }

  call(hook: HookName, configuration: string, args: JsonObject, sessionId: string, timeoutMs: number): Promise<HookOutcome> {
    return this.pool.call({ hook, configuration, args }, { sessionId, hook }, timeoutMs);
  }

  close(): void {
    this.pool.close();
  }
}

export class PluginHost {
  private readonly loaded = new Map<string, Promise<PluginHandle>>();

  constructor(private readonly opts: PluginHostOptions) {}

  /** Loads (once) the plugin whose folder is plugins_dir/<name>; throws a BastionError naming the reason. */
  load(name: string, type: PluginType): Promise<PluginHandle> {
    let p = this.loaded.get(name);
    if (!p) {
      p = this.doLoad(name, type);
      this.loaded.set(name, p);
    }
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.loaded.values()) {
      try {
        (await p).close();
      } catch {
        // a plugin that failed to load has nothing to stop
      }
    }
  }

  private async doLoad(name: string, type: PluginType): Promise<PluginHandle> {
    const dir = join(this.opts.pluginsDir, name);
    const manifestFile = join(dir, 'MANIFEST');
    if (!existsSync(manifestFile)) {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${name}": ${manifestFile} not found (each plugin is a folder named as its MANIFEST name)`);
    }
    const check = parseManifest(readFileSync(manifestFile, 'utf8'), manifestFile);
    if (!check.ok) throw new BastionError('MANIFEST_INVALID', `plugin "${name}" refused:\n  ${check.errors.join('\n  ')}`);
    const manifest = check.manifest;
    if (manifest.name !== name) {
      throw new BastionError('MANIFEST_INVALID', `plugin folder "${name}" holds a MANIFEST named "${manifest.name}"; the folder must be named as the plugin`);
    }
    if (manifest.type !== type) {
      throw new BastionError('MANIFEST_INVALID', `plugin "${name}" is of type "${manifest.type}" but is used as ${type === 'aa' ? 'an AA plugin' : 'a credential store'}`);
    }

    const entry = await this.entryPoint(dir, manifest);
    const poolOpts = this.poolOptions(manifest, entry);
    const probe = await WorkerPool.probe(poolOpts);
    if ('error' in probe) throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${name}" refused: ${probe.error}`);
    const hooks = new Set(probe.hooks);
    const missing = REQUIRED_HOOKS[type].filter((h) => !hooks.has(h));
    if (missing.length > 0) {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${name}" refused: its Plugin class has no ${missing.join(', ')} method`);
    }
    const absent = EXPECTED_HOOKS[type].filter((h) => !hooks.has(h));
    if (absent.length > 0) {
      this.opts.log.warn({ event: 'plugin.hooks_missing', plugin: name, missing: absent },
        'plugin lacks hooks that SPS requires; calls to them will fail (authorize) or be skipped (session_ended)');
    }
    this.opts.log.info({ event: 'plugin.loaded', plugin: name, version: manifest.version, api: manifest.api, hooks: [...hooks] }, 'plugin loaded');
    return new PluginHandle(manifest, dir, hooks, new WorkerPool(poolOpts));
  }

  private async entryPoint(dir: string, manifest: Manifest): Promise<string> {
    const candidates = manifest.entryPoint ? [manifest.entryPoint] : ['main.js', 'main.mjs', 'main.ts', 'main.mts', 'main.py'];
    const entry = candidates.find((c) => existsSync(join(dir, c)));
    if (!entry) {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${manifest.name}": no entry point (${candidates.join(', ')}) in ${dir}`);
    }
    const ext = extname(entry);
    if (ext === '.py') {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${manifest.name}": Python plugins (${entry}) are not supported by this Gatehouse version yet`);
    }
    if (ext === '.ts' || ext === '.mts') {
      const out = await compileTsPlugin(dir, manifest.name, manifest.version, join(this.opts.stateDir, 'compiled-plugins'));
      return join(out, entry.replace(/\.mts$/, '.mjs').replace(/\.ts$/, '.js'));
    }
    if (ext === '.js' && !isEsmScope(join(dir, entry))) {
      throw new BastionError('PLUGIN_LOAD_FAILED',
        `plugin "${manifest.name}": ${entry} must be an ES module: add a package.json with {"type": "module"} to the plugin folder or name the file main.mjs`);
    }
    return join(dir, entry);
  }

  private poolOptions(manifest: Manifest, entry: string): PoolOptions {
    const state = join(this.opts.stateDir, 'plugins', manifest.name);
    const ephemeral = join(this.opts.ephemeralDir, manifest.name);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    mkdirSync(ephemeral, { recursive: true, mode: 0o700 });
    const log = this.opts.log.child({ plugin: manifest.name });
    return {
      entryUrl: pathToFileURL(entry).href,
      warm: this.opts.warmWorkers,
      memoryMb: this.opts.memoryMb,
      // spec 3.6: the directories SPS gives plugins.
      env: { ...process.env, SCB_PLUGIN_STATE_DIRECTORY: state, EPHEMERAL_PLUGIN_STATE_DIRECTORY: ephemeral },
      onOutput: (line, stream, call) => {
        // spec 3.4: what a plugin prints is logged line by line with the session id.
        log.info({ event: 'plugin.output', stream, ...(call ? { sid: call.sessionId, hook: call.hook } : {}) }, line);
      },
    };
  }
}

/** Whether a .js file is an ES module: its nearest package.json says "type": "module". */
function isEsmScope(file: string): boolean {
  for (let d = dirname(file); ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}
