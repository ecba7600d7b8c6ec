import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, Policy } from '../config/config.js';
import { BastionError } from '../core/errors.js';
import { PluginCache } from '../plugins/plugin-cache.js';
import type { PluginHandle, PluginHostOptions } from '../plugins/plugin-host.js';
import { ensureHostKeys, ensureKey, type LoadedKey } from '../ssh2x/keys.js';

// A Runtime is one validated, frozen snapshot of the configuration with everything built from it (keys,
// loaded plugins). Reload builds a new one and swaps it in; sessions keep the snapshot they started with, so
// session_ended reaches the same plugins that authenticated them.

export interface Runtime {
  readonly config: Config;
  /** `gatehouse serve --dev`: hook calls are traced and refused users read the reason and the code. */
  readonly dev: boolean;
  readonly hostKeys: readonly LoadedKey[];
  aaPlugin(policy: Policy): PluginHandle | undefined;
  credentialStore(policy: Policy): PluginHandle | undefined;
  clientKey(path: string): LoadedKey;
  /** Stops warm plugin runners; hook calls of sessions still on this snapshot keep working. */
  retire(): Promise<void>;
  /** Stops every plugin runner, calls under way included (process shutdown). */
  shutdown(): Promise<void>;
}

export interface RuntimeOptions {
  readonly dev?: boolean;
  /** Plugins shared with the snapshots before and after this one: a reload loads only the plugins that changed. */
  readonly plugins?: PluginCache;
}

export async function buildRuntime(config: Config, log: Logger, ephemeralDir: string, opts: RuntimeOptions = {}): Promise<Runtime> {
  const hostKeys = ensureHostKeys(config.keysDir);
  const clientKeys = new Map<string, LoadedKey>();
  for (const p of config.policies) {
    if (p.targetAuth.method === 'key' && !clientKeys.has(p.targetAuth.keyFile)) {
      clientKeys.set(p.targetAuth.keyFile, ensureKey(p.targetAuth.keyFile, 'ed25519', 'gatehouse-client'));
    }
  }
  const cache = opts.plugins ?? new PluginCache();
  const hostOptions: PluginHostOptions = {
    pluginsDir: config.pluginsDir,
    stateDir: config.stateDir,
    ephemeralDir: join(ephemeralDir, 'plugins'),
    warmWorkers: config.pluginPool.warmWorkers,
    maxActive: config.pluginPool.maxActive,
    memoryMb: config.pluginPool.memoryMb,
    bounds: config.pluginPool,
    python: config.python,
    sdkHost: JSON.stringify(config.sdk),
    log,
  };
  const held: PluginHandle[] = [];
  const releaseAll = (killBusy: boolean): void => {
    for (const h of held.splice(0)) cache.release(h, killBusy);
  };
  const aa = new Map<string, PluginHandle>();
  const stores = new Map<string, PluginHandle>();
  const load = async (name: string, type: 'aa' | 'credentialstore', where: string): Promise<PluginHandle> => {
    try {
      const h = await cache.acquire(hostOptions, name, type);
      held.push(h);
      return h;
    } catch (err) {
      const e = err as BastionError;
      throw new BastionError(e.code ?? 'PLUGIN_LOAD_FAILED', `${config.file}: ${where}: ${e.message}`, { cause: err });
    }
  };
  try {
    for (const [i, p] of config.policies.entries()) {
      if (p.aaPlugin) aa.set(p.name, await load(p.aaPlugin.name, 'aa', `policies.${i}.aa_plugin.name`));
      if (p.targetAuth.method === 'credential_store') {
        stores.set(p.name, await load(p.targetAuth.store.name, 'credentialstore', `policies.${i}.credential_store.name`));
      }
    }
  } catch (err) {
    releaseAll(false);
    throw err;
  }
  return {
    config,
    dev: opts.dev === true,
    hostKeys,
    aaPlugin: (policy) => aa.get(policy.name),
    credentialStore: (policy) => stores.get(policy.name),
    clientKey: (path) => {
      const k = clientKeys.get(path);
      if (!k) throw new BastionError('TARGET_CREDENTIALS_MISSING', `no client key loaded from ${path}`);
      return k;
    },
    retire: () => Promise.resolve(releaseAll(false)),
    shutdown: () => Promise.resolve(releaseAll(true)),
  };
}
