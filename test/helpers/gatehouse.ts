import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import yaml from 'js-yaml';
import { createApp, type App } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/config.js';
import { createLogger } from '../../src/log/logger.js';
import { FIXTURES, ROOT } from './paths.js';
import { readJsonl } from './jsonl.js';

// Starts Gatehouse in-process on 127.0.0.1:0 from a temp dir with a config.yaml written by the test, fixture
// plugins copied in, and its JSON log captured line by line for assertions.

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly event?: string;
  readonly sid?: string;
  readonly code?: string;
  readonly [key: string]: unknown;
}

export interface PluginCall {
  /** "store" for the credential-store fixtures; absent for AA fixtures. */
  readonly plugin?: string;
  readonly hook: string;
  readonly session_id: string;
  readonly args: Record<string, unknown>;
}

export interface HarnessContext {
  readonly dir: string;
  /** File the fixture plugins append their calls to (pass it in their configuration as "record"). */
  readonly callsFile: string;
}

export interface GatehouseOptions {
  /** Fixture plugins (test/fixtures/plugins/<name>) or shipped ones (plugins/<name>) to install. */
  readonly plugins?: readonly string[];
  readonly policies: (ctx: HarnessContext) => unknown[];
  /** Further top-level config.yaml keys (timeouts, hosts, limits, ...). */
  readonly extra?: (ctx: HarnessContext) => Record<string, unknown>;
  /** Files to create before start, relative to the temp dir. */
  readonly files?: (ctx: HarnessContext) => Record<string, string>;
  /** As `gatehouse serve --dev`. */
  readonly dev?: boolean;
}

export interface Gatehouse extends HarnessContext {
  readonly app: App;
  readonly port: number;
  readonly configFile: string;
  /** known_hosts file for the OpenSSH client, trusting Gatehouse's host keys. */
  readonly knownHosts: string;
  /** Public key line of Gatehouse's client key (for the target's authorized_keys); '' when no policy uses it. */
  readonly clientKeyLine: string;
  readonly logs: LogLine[];
  calls(hook?: string): PluginCall[];
  waitFor(what: string, pred: () => boolean, timeoutMs?: number): Promise<void>;
  /** Waits until `n` sessions have closed in total and returns their close log lines. */
  closedSessions(n: number, timeoutMs?: number): Promise<LogLine[]>;
  stop(): Promise<void>;
}

export async function startGatehouse(opts: GatehouseOptions): Promise<Gatehouse> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-test-'));
  const ctx: HarnessContext = { dir, callsFile: join(dir, 'calls.jsonl') };
  mkdirSync(join(dir, 'plugins'));
  for (const name of opts.plugins ?? []) {
    const src = existsSync(join(FIXTURES, 'plugins', name)) ? join(FIXTURES, 'plugins', name) : join(ROOT, 'plugins', name);
    cpSync(src, join(dir, 'plugins', name), { recursive: true });
  }
  for (const [rel, content] of Object.entries(opts.files?.(ctx) ?? {})) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, yaml.dump({
    listen: ['127.0.0.1:0'],
    log_level: 'debug',
    plugin_pool: { warm_workers: 1 },
    // Tests log in from 127.0.0.1 again right after denied logins: only the abuse tests, which use other
    // loopback addresses (or set penalties themselves), see penalties.
    penalties: { exempt: ['127.0.0.1'] },
    ...opts.extra?.(ctx),
    policies: opts.policies(ctx),
  }));

  const logs: LogLine[] = [];
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString();
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      }
      cb();
    },
  });
  const config = loadConfigFile(configFile);
  const app = await createApp(config, createLogger('debug', sink), { dev: opts.dev === true });
  try {
    await app.start();
  } catch (err) {
    await app.stop(1000);
    throw err;
  }
  const port = app.addresses[0]!.port;
  const keysDir = join(dir, 'keys');
  const knownHosts = join(dir, 'client_known_hosts');
  writeFileSync(knownHosts, ['host_ed25519', 'host_rsa']
    .map((f) => `[127.0.0.1]:${port} ${readFileSync(join(keysDir, `${f}.pub`), 'utf8').trim()}`).join('\n') + '\n');

  const waitFor = async (what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const closed = (): LogLine[] => logs.filter((l) => l.event === 'session.closed');
  return {
    ...ctx,
    app,
    port,
    configFile,
    knownHosts,
    clientKeyLine: existsSync(join(keysDir, 'client_ed25519.pub')) ? readFileSync(join(keysDir, 'client_ed25519.pub'), 'utf8').trim() : '',
    logs,
    calls(hook) {
      // A plugin may be writing a line right now: only complete lines count.
      const all = readJsonl<PluginCall>(ctx.callsFile);
      return hook ? all.filter((c) => c.hook === hook) : all;
    },
    waitFor,
    async closedSessions(n, timeoutMs) {
      await waitFor(`${n} closed sessions`, () => closed().length >= n, timeoutMs);
      return closed();
    },
    async stop() {
      await app.stop(5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
