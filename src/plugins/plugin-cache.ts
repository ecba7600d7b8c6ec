import { join } from 'node:path';
import { PluginHost, type PluginHandle, type PluginHostOptions } from './plugin-host.js';
import type { PluginType } from './contract.js';
import { pluginHash } from './snapshot.js';

// Loaded plugins shared by the runtime snapshots of one process, so that a reload loads only what changed: a
// plugin whose folder has the same content, loaded with the same host settings, is the same handle (its warm
// runners keep serving), while an edited one is loaded anew beside the old one, which keeps serving the
// sessions that started with it. Each snapshot acquires its handles and releases them when it retires; a
// handle no snapshot holds any more stops its warm runners (calls of sessions still on it keep working).

interface Entry {
  readonly handle: Promise<PluginHandle>;
  refs: number;
}

export class PluginCache {
  private readonly hosts = new Map<string, PluginHost>();
  private readonly entries = new Map<string, Entry>();
  private readonly keys = new Map<PluginHandle, string>();

  /** The handle for plugin `name` as its folder is now; throws the load error as PluginHost.load does. */
  async acquire(opts: PluginHostOptions, name: string, type: PluginType): Promise<PluginHandle> {
    const { log: _log, ...settings } = opts;
    const hostKey = JSON.stringify(settings);
    let host = this.hosts.get(hostKey);
    if (!host) {
      host = new PluginHost(opts);
      this.hosts.set(hostKey, host);
    }
    let content: string;
    try {
      content = pluginHash(join(opts.pluginsDir, name));
    } catch {
      content = 'unreadable'; // the load itself says why
    }
    const key = `${hostKey}\0${name}\0${type}\0${content}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const h = host;
      entry = { handle: h.loadFresh(name, type), refs: 0 };
      this.entries.set(key, entry);
    }
    entry.refs++;
    try {
      const handle = await entry.handle;
      this.keys.set(handle, key);
      return handle;
    } catch (err) {
      // A plugin that did not load is tried again by the next reload (a missing module may be installed by then).
      if (--entry.refs === 0 && this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
  }

  /** Gives back a handle; the last release stops its warm runners (with `killBusy`, its calls under way too). */
  release(handle: PluginHandle, killBusy = false): void {
    const key = this.keys.get(handle);
    const entry = key === undefined ? undefined : this.entries.get(key);
    if (!entry || key === undefined) return;
    if (--entry.refs > 0) return;
    this.entries.delete(key);
    this.keys.delete(handle);
    handle.close(killBusy);
  }
}
