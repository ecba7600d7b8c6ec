import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import { BastionError } from '../core/errors.js';
import { DEFAULT_PLUGIN_POOL, type PluginBounds } from '../config/plugin-pool.js';
import { AA_HOOKS, CREDSTORE_HOOKS, type HookName, type JsonObject, type PluginType } from './contract.js';
import { parseManifest, type Manifest } from './manifest.js';
import { pythonTransport } from './python-transport.js';
import { RunnerPool } from './runner-pool.js';
import { Runner, type CallOptions, type HookOutcome, type OutputSink } from './runner.js';
import { compileTsPlugin } from './ts-compile.js';
import { contextTransport } from './context-transport.js';
import { MemoryGuard } from './memory-guard.js';
import { scopeType, type PackageType } from './module-format.js';
import { snapshotPlugin } from './snapshot.js';

// Loads plugins from plugins_dir (one folder per plugin, named as its MANIFEST `name`) and runs their hooks
// off the main event loop. Loading refuses a plugin with the reason; calling never throws: a plugin failure
// is a coded HookOutcome.

export interface PluginHostOptions {
  readonly pluginsDir: string;
  readonly stateDir: string;
  readonly ephemeralDir: string;
  readonly warmWorkers: number;
  readonly maxActive: number;
  readonly memoryMb: number;
  /** Absolute path of the interpreter for Python plugins. */
  readonly python: string;
  /** JSON for GATEHOUSE_SDK_HOST: config.yaml `sdk:`, read by the bundled safeguard.sessions.plugin. */
  readonly sdkHost?: string;
  readonly log: Logger;
  /** Where the frozen copies of loaded plugins go (snapshot.ts); default: plugin-code beside ephemeralDir. */
  readonly snapshotsDir?: string;
  readonly bounds?: PluginBounds;
}

/** A plugin is refused unless it has at least one hook of each group. */
const REQUIRED_HOOKS: Record<PluginType, readonly (readonly string[])[]> = {
  aa: [['authenticate']],
  credentialstore: [['get_password_list', 'get_private_key_list']],
};
/** The hooks Gatehouse calls, per type: other methods of the Plugin class are the plugin's own helpers. */
export const CALLED_HOOKS: Record<PluginType, readonly HookName[]> = {
  aa: AA_HOOKS,
  credentialstore: CREDSTORE_HOOKS,
};
const EXPECTED_HOOKS: Record<PluginType, readonly string[]> = {
  aa: ['authenticate', 'authorize', 'session_ended'],
  credentialstore: ['authentication_completed', 'session_ended'],
};

/** Hooks SPS expects of this type of plugin that it lacks (allowed, but worth a warning). */
export function missingExpectedHooks(type: PluginType, hooks: ReadonlySet<string>): string[] {
  return EXPECTED_HOOKS[type].filter((h) => !hooks.has(h));
}

export class PluginHandle {
  constructor(
    readonly manifest: Manifest,
    readonly dir: string,
    readonly hooks: ReadonlySet<string>,
    readonly runtime: 'javascript' | 'python',
    private readonly pool: RunnerPool,
    /** Error texts name the plugin's own folder, not the frozen copy it runs from. */
    private readonly unsnap: (text: string) => string = (t) => t,
    readonly bounds: PluginBounds = DEFAULT_PLUGIN_POOL,
  ) {}

  has(hook: HookName): boolean {
    return this.hooks.has(hook);
  }

  async call(hook: HookName, configuration: string, args: JsonObject, sessionId: string, timeoutMs: number, opts?: CallOptions): Promise<HookOutcome> {
    const outcome = await this.pool.call({ hook, configuration, args }, { sessionId, hook }, timeoutMs, opts);
    return outcome.ok ? outcome : { ...outcome, message: this.unsnap(outcome.message) };
  }

  close(killBusy = false): void {
    this.pool.close(killBusy);
  }
}

export class PluginHost {
  private readonly loaded = new Map<string, Promise<PluginHandle>>();

  private readonly bounds: PluginBounds;
  /** One for every JavaScript plugin: they share the process's memory. */
  private readonly guard: MemoryGuard;

  constructor(private readonly opts: PluginHostOptions) {
    this.bounds = opts.bounds ?? DEFAULT_PLUGIN_POOL;
    this.guard = new MemoryGuard(this.bounds.jsExternalMb * 1024 * 1024);
  }

  /** Loads (once) the plugin whose folder is plugins_dir/<name>; throws a BastionError naming the reason. */
  load(name: string, type: PluginType): Promise<PluginHandle> {
    let p = this.loaded.get(name);
    if (!p) {
      p = this.doLoad(name, type);
      this.loaded.set(name, p);
    }
    return p;
  }

  /** Loads the plugin as its folder is now, apart from what load() keeps; the caller closes it (plugin-cache.ts). */
  loadFresh(name: string, type: PluginType): Promise<PluginHandle> {
    return this.doLoad(name, type);
  }

  /** Stops warm runners; with `killBusy` also the hook calls under way (process shutdown). */
  async close(killBusy = false): Promise<void> {
    for (const p of this.loaded.values()) {
      try {
        (await p).close(killBusy);
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

    const { entry, code } = await this.entryPoint(dir, manifest);
    const unsnap = (t: string): string => (code === dir ? t : t.split(code).join(dir));
    const start = this.runnerFactory(manifest, entry, code, scopeType(dir), unsnap);
    const probe = start();
    const loaded = await probe.ready;
    probe.discard();
    if ('error' in loaded) throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${name}" refused: ${unsnap(loaded.error)}`);
    const hooks = new Set(loaded.hooks.filter((h) => (CALLED_HOOKS[type] as readonly string[]).includes(h)));
    const missing = REQUIRED_HOOKS[type].find((group) => !group.some((h) => hooks.has(h)));
    if (missing) {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${name}" refused: its Plugin class has no ${missing.join(' or ')} method`);
    }
    const absent = missingExpectedHooks(type, hooks);
    if (absent.length > 0) {
      this.opts.log.warn({ event: 'plugin.hooks_missing', plugin: name, missing: absent },
        'plugin lacks hooks that SPS expects; a missing authorize fails the login, the others are skipped');
    }
    const runtime = entry.endsWith('.py') ? 'python' : 'javascript';
    this.opts.log.info({ event: 'plugin.loaded', plugin: name, version: manifest.version, api: manifest.api, runtime, hooks: [...hooks] }, 'plugin loaded');
    return new PluginHandle(manifest, dir, hooks, runtime,
      new RunnerPool(start, { warm: this.opts.warmWorkers, maxActive: this.opts.maxActive, reusable: runtime === 'javascript' }), unsnap, this.bounds);
  }

  /** The entry file to run and the folder it runs from: a frozen copy of the plugin, or its compiled form. */
  private async entryPoint(dir: string, manifest: Manifest): Promise<{ entry: string; code: string }> {
    const candidates = manifest.entryPoint ? [manifest.entryPoint] : ['main.js', 'main.mjs', 'main.cjs', 'main.ts', 'main.mts', 'main.py'];
    const entry = candidates.find((c) => existsSync(join(dir, c)));
    if (!entry) {
      throw new BastionError('PLUGIN_LOAD_FAILED', `plugin "${manifest.name}": no entry point (${candidates.join(', ')}) in ${dir}`);
    }
    const ext = extname(entry);
    if (ext === '.ts' || ext === '.mts') {
      // Compiled once per content into a folder of its own, which is a frozen copy already.
      const out = await compileTsPlugin(dir, manifest.name, manifest.version, join(this.opts.stateDir, 'compiled-plugins'));
      return { entry: join(out, entry.replace(/\.mts$/, '.mjs').replace(/\.ts$/, '.js')), code: out };
    }
    const code = snapshotPlugin(dir, manifest.name, this.opts.snapshotsDir ?? join(dirname(this.opts.ephemeralDir), 'plugin-code'));
    return { entry: join(code, entry), code };
  }

  /** Starts runners for the plugin: reusable context workers for JavaScript, single-use python3 processes. */
  private runnerFactory(manifest: Manifest, entry: string, code: string, outerType: PackageType, unsnap: (t: string) => string): () => Runner {
    const state = join(this.opts.stateDir, 'plugins', manifest.name);
    const ephemeral = join(this.opts.ephemeralDir, manifest.name);
    mkdirSync(state, { recursive: true, mode: 0o700 });
    mkdirSync(ephemeral, { recursive: true, mode: 0o700 });
    // spec 3.6: the directories SPS gives plugins.
    const env = { ...process.env, SCB_PLUGIN_STATE_DIRECTORY: state, EPHEMERAL_PLUGIN_STATE_DIRECTORY: ephemeral };
    const log = this.opts.log.child({ plugin: manifest.name });
    // spec 3.4: what a plugin prints is logged line by line with the session id.
    const output: OutputSink = (line, stream, call) =>
      log.info({ event: 'plugin.output', stream, ...(call ? { sid: call.sessionId, hook: call.hook } : {}) }, unsnap(line));
    const b = this.bounds;
    const limits = { outputLineBytes: b.outputLineBytes, outputCallBytes: b.outputCallBytes, outputCallLines: b.outputCallLines };
    if (entry.endsWith('.py')) {
      const addressSpaceBytes = b.addressSpaceMb * 1024 * 1024;
      // Only Python plugins get the SDK's host context: the package that reads it is Python.
      const pyEnv = { ...env, GATEHOUSE_SDK_HOST: this.opts.sdkHost ?? '{}' };
      return () => new Runner(pythonTransport({ python: this.opts.python, entry, env: pyEnv, addressSpaceBytes, maxLine: b.outputLineBytes }), output, false, undefined, limits);
    }
    return () => {
      log.debug({ event: 'plugin.runner_start' }, 'starting a plugin worker');
      return new Runner(contextTransport({ entry, root: code, outerType, memoryMb: this.opts.memoryMb, env, maxLine: b.outputLineBytes }), output, true, undefined, { ...limits, guard: this.guard });
    };
  }
}
