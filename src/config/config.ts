import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BastionError } from '../core/errors.js';
import type { TargetSpec } from '../target/username.js';
import { compileAllowRule, type AllowRule } from '../target/target-rules.js';
import { resolveAdmission, resolvePenalties, type AdmissionSettings, type PenaltyConfig } from './abuse-limits.js';
import { type ChannelPolicy } from './channel-policy.js';
import type { LogLevel } from '../log/logger.js';
import { resolvePluginPool, type PluginPoolConfig } from './plugin-pool.js';
import { resolveSdk } from './sdk-schema.js';
import { configSchema, GC_MODES, type ListenAddress, type RawConfig, type RawPolicy } from './schema.js';
import { resolveIdentityLogout, type IdentityLogoutConfig } from './identity-logout.js';
import { resolveSessions, type SessionsConfig } from './sessions-config.js';
import type { Issue } from './validator.js';
import { parseYaml, YamlSyntaxError, type KeyPath, type ParsedYaml } from './yaml-source.js';

// Loads config.yaml into a checked, frozen Config. Every error names the file, the line and the key path;
// relative paths in the file are resolved against the file's own directory.

export type { LogLevel };
export type GcMode = (typeof GC_MODES)[number];

export type TargetSelection =
  | { readonly kind: 'fixed'; readonly host: string; readonly port: number }
  | { readonly kind: 'inband'; readonly rules: readonly AllowRule[]; readonly defaultPort: number };

export type TargetAuth =
  | { readonly method: 'key'; readonly keyFile: string }
  | { readonly method: 'password' }
  | { readonly method: 'credential_store'; readonly store: { readonly name: string; readonly configuration: string } };

export interface UserMapping {
  readonly serverUser: string;
  readonly gatewayUsers: readonly string[];
  readonly gatewayGroups: readonly string[];
}

export interface ForwardingRule {
  readonly local: boolean;
  readonly remote: boolean;
}

export interface Policy {
  readonly name: string;
  readonly aaPlugin: { readonly name: string; readonly configuration: string } | undefined;
  readonly target: TargetSelection;
  readonly targetAuth: TargetAuth;
  readonly hostKeyCheck: { readonly knownHosts: string; readonly policy: 'strict' | 'accept-new' };
  readonly usermapping: readonly UserMapping[] | undefined;
  /** Which port forwarding clients may ask for: local (ssh -L, -W) and remote (ssh -R). */
  readonly tcpForwarding: ForwardingRule;
  /** The same for Unix sockets (ssh -L/-R with a socket path). */
  readonly streamLocalForwarding: ForwardingRule;
  /** Whether clients may forward their agent to the target (ssh -A). */
  readonly agentForwarding: boolean;
  /** Whether clients may forward X11 from the target (ssh -X, -Y). */
  readonly x11Forwarding: boolean;
  /** A session without data either way for this long is ended; 0: never. */
  readonly idleTimeoutMs: number;
  /** Sessions one user may have open through this policy (on top of sessions.max_sessions_per_user). */
  readonly maxSessionsPerUser: number | undefined;
  /** Whether terminal sessions (those with a pty) are recorded as asciicast files in recordings_dir. */
  readonly recordSessions: boolean;
  /** What session channels may do (config/channel-policy.ts); everything when the policy says nothing. */
  readonly channels: ChannelPolicy;
}

export interface Config {
  readonly file: string;
  readonly listen: readonly ListenAddress[];
  readonly keysDir: string;
  readonly pluginsDir: string;
  readonly stateDir: string;
  /** Unix socket for `gatehouse sessions` / `gatehouse terminate` (default state_dir/control.sock). */
  readonly controlSocket: string;
  /** Where session recordings go, one folder per day (default state_dir/recordings). */
  readonly recordingsDir: string;
  readonly logLevel: LogLevel;
  /** Whether plugins_dir and the config file are watched, a change reloading them with no signal (watch.ts). */
  readonly watch: boolean;
  readonly timeouts: {
    readonly proxyMs: number;
    /** Half the proxy timeout, as in SPS (spec 3.2). */
    readonly pluginMs: number;
    readonly loginGraceMs: number;
    readonly targetConnectMs: number;
    readonly shutdownMs: number;
  };
  readonly limits: { readonly needinfoRounds: number; readonly targetPasswordTries: number };
  /** Admission at TCP accept and the cap on failed answers (config/abuse-limits.ts). */
  readonly admission: AdmissionSettings;
  readonly penalties: PenaltyConfig;
  /** The runners' pool and the plugin bounds (config/plugin-pool.ts). */
  readonly pluginPool: PluginPoolConfig;
  /** Interpreter for Python plugins (absolute path, as a pyenv shim on PATH costs 5x per call). */
  readonly python: string;
  readonly ssh: {
    readonly ciphers?: string[];
    readonly kex?: string[];
    readonly macs?: string[];
    readonly hostKeyAlgorithms?: string[];
    /** As OpenSSH's ClientAliveInterval (0: never ask) and ClientAliveCountMax. */
    readonly clientAliveIntervalMs: number;
    readonly clientAliveCountMax: number;
    /** As OpenSSH's ServerAliveInterval (0: never ask) and ServerAliveCountMax, towards the targets. */
    readonly targetAliveIntervalMs: number;
    readonly targetAliveCountMax: number;
  };
  /** How V8 collects garbage in the serving process (cli/process-tuning.ts); applied at start-up only. */
  readonly gc: GcMode;
  /** Processes serving SSH (config `workers`, "auto" being the CPU count); above 1, a primary supervises them. */
  readonly workers: number;
  /**
   * The shared PostgreSQL of several Gatehouse hosts, and this host's name among them (default: the host
   * name; give each Gatehouse sharing one machine its own).
   */
  readonly database: { readonly url: string; readonly instance: string } | undefined;
  readonly hosts: ReadonlyMap<string, TargetSpec>;
  readonly demoTarget: { readonly listen: ListenAddress } | undefined;
  /** The OpenID Connect back-channel logout listener; undefined: off. */
  readonly identityLogout: IdentityLogoutConfig | undefined;
  /** The connection database and the session limits (config.yaml `sessions`). */
  readonly sessions: SessionsConfig;
  readonly policies: readonly Policy[];
  /** config.yaml `sdk:` as handed to Python plugins (config/sdk-schema.ts); {} when absent. */
  readonly sdk: Readonly<Record<string, unknown>>;
}

export function loadConfigFile(file: string): Config {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BastionError('CONFIG_UNREADABLE', `${path}: cannot read configuration: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, path: string): Config {
  let doc: ParsedYaml;
  try {
    doc = parseYaml(text, path);
  } catch (err) {
    if (err instanceof YamlSyntaxError) {
      throw new BastionError('CONFIG_INVALID', `${path}:${err.line ?? 1}: YAML syntax error: ${err.message}`);
    }
    throw err;
  }
  const issues: Issue[] = [];
  const raw = configSchema(doc.value ?? undefined, [], { issues });
  const cfg = raw ? resolveConfig(raw, path, issues) : undefined;
  if (issues.length > 0 || !cfg) throw configError(path, doc, issues);
  return deepFreeze(cfg);
}

/** Longest message of one issue; a longer one (a value echoed whole by some check) is cut. */
const ISSUE_MAX = 400;

function configError(path: string, doc: ParsedYaml, issues: Issue[]): BastionError {
  const lines = issues.map((i) => {
    // An empty file has no node at all: its errors are on line 1.
    const line = doc.lineOf(i.path) ?? 1;
    const path0 = i.path.length > 0 ? i.path.join('.') : '(top level)';
    const key = path0.length > 200 ? `${path0.slice(0, 200)}...` : path0;
    const message = i.message.length > ISSUE_MAX ? `${i.message.slice(0, ISSUE_MAX)}...` : i.message;
    return `${path}:${line}: ${key}: ${message}`;
  });
  return new BastionError('CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`);
}

function resolveConfig(raw: RawConfig, file: string, issues: Issue[]): Config | undefined {
  const base = dirname(file);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const keysDir = abs(raw.keys_dir!);
  const proxyMs = raw.timeouts.proxy!;
  const t = raw.timeouts;
  const names = new Set<string>();
  const policies: Policy[] = [];
  // sun_path holds 108 bytes on Linux, with the terminating NUL: checked here so that check and serve agree.
  const controlSocket = raw.control_socket ? abs(raw.control_socket) : join(abs(raw.state_dir!), 'control.sock');
  if (Buffer.byteLength(controlSocket) > 107) {
    issues.push({
      path: [raw.control_socket ? 'control_socket' : 'state_dir'],
      message: `the control socket ${controlSocket.slice(0, 120)}${controlSocket.length > 120 ? '...' : ''} is longer than the 107 bytes a Unix socket path takes: set control_socket to a shorter path`,
    });
  }
  raw.policies.forEach((p, i) => {
    const policy = resolvePolicy(p, ['policies', i], abs, keysDir, issues);
    if (names.has(p.name)) issues.push({ path: ['policies', i, 'name'], message: `duplicate policy name "${p.name}"` });
    names.add(p.name);
    if (policy) policies.push(policy);
  });
  return {
    file,
    listen: raw.listen,
    keysDir,
    pluginsDir: abs(raw.plugins_dir!),
    stateDir: abs(raw.state_dir!),
    controlSocket,
    recordingsDir: raw.recordings_dir ? abs(raw.recordings_dir) : join(abs(raw.state_dir!), 'recordings'),
    logLevel: raw.log_level!,
    watch: raw.watch!,
    timeouts: {
      proxyMs: proxyMs * 1000,
      pluginMs: (proxyMs * 1000) / 2,
      loginGraceMs: t.login_grace! * 1000,
      targetConnectMs: t.target_connect! * 1000,
      shutdownMs: t.shutdown! * 1000,
    },
    limits: {
      needinfoRounds: raw.limits.needinfo_rounds!,
      targetPasswordTries: raw.limits.target_password_tries!,
    },
    admission: resolveAdmission(raw.limits, issues),
    penalties: resolvePenalties(raw.penalties, issues),
    pluginPool: resolvePluginPool(raw.plugin_pool),
    python: raw.python!,
    ssh: {
      ...(raw.ssh?.ciphers ? { ciphers: raw.ssh.ciphers } : {}),
      ...(raw.ssh?.kex ? { kex: raw.ssh.kex } : {}),
      ...(raw.ssh?.macs ? { macs: raw.ssh.macs } : {}),
      ...(raw.ssh?.host_key_algorithms ? { hostKeyAlgorithms: raw.ssh.host_key_algorithms } : {}),
      clientAliveIntervalMs: raw.ssh.client_alive_interval! * 1000,
      clientAliveCountMax: raw.ssh.client_alive_count_max!,
      targetAliveIntervalMs: raw.ssh.target_alive_interval! * 1000,
      targetAliveCountMax: raw.ssh.target_alive_count_max!,
    },
    gc: raw.gc!,
    workers: raw.workers === 'auto' ? availableParallelism() : raw.workers!,
    database: raw.database ? { url: raw.database.url, instance: raw.database.instance ?? hostname() } : undefined,
    hosts: new Map(Object.entries(raw.hosts ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    demoTarget: raw.demo_target && raw.demo_target.enabled !== false ? { listen: raw.demo_target.listen } : undefined,
    identityLogout: raw.identity_logout ? resolveIdentityLogout(raw.identity_logout, ['identity_logout'], abs, issues) : undefined,
    sessions: resolveSessions(raw.sessions),
    policies,
    sdk: resolveSdk(raw.sdk, ['sdk'], abs, issues),
  };
}

function resolvePolicy(
  p: RawPolicy, path: KeyPath, abs: (p: string) => string, keysDir: string, issues: Issue[],
): Policy | undefined {
  const at = (...rest: (string | number)[]): KeyPath => [...path, ...rest];
  let target: TargetSelection | undefined;
  if (p.target && p.targets) {
    issues.push({ path: at('targets'), message: 'give either "target" (one fixed server) or "targets" (servers named in the user name), not both' });
  } else if (p.target) {
    target = { kind: 'fixed', host: p.target.host, port: p.target.port! };
  } else if (p.targets) {
    const rules: AllowRule[] = [];
    p.targets.allow.forEach((r, j) => {
      const rule = compileAllowRule(r.hosts, r.ports ?? [[22, 22]]);
      if (typeof rule === 'string') issues.push({ path: at('targets', 'allow', j, 'hosts'), message: rule });
      else rules.push(rule);
    });
    target = { kind: 'inband', rules, defaultPort: p.targets.default_port! };
  } else {
    issues.push({ path: at('targets'), message: 'a policy needs "target" (one fixed server) or "targets" (an allow-list for user@server)' });
  }

  let targetAuth: TargetAuth | undefined;
  const method = p.target_auth.method;
  if (p.target_auth.key && method !== 'key') issues.push({ path: at('target_auth', 'key'), message: '"key" only applies to method "key"' });
  if (p.credential_store && method !== 'credential_store') {
    issues.push({ path: at('credential_store'), message: 'a credential_store is used only with target_auth method "credential_store"' });
  }
  if (method === 'key') {
    targetAuth = { method, keyFile: p.target_auth.key ? abs(p.target_auth.key) : resolve(keysDir, 'client_ed25519') };
  } else if (method === 'credential_store') {
    if (!p.credential_store) issues.push({ path: at('credential_store'), message: 'target_auth method "credential_store" needs a credential_store (name and configuration)' });
    else targetAuth = { method, store: { name: p.credential_store.name, configuration: p.credential_store.configuration! } };
  } else {
    targetAuth = { method };
  }
  if (!p.aa_plugin && method !== 'password') {
    // Fail closed: with credentials that are not the user's own, somebody must have checked who the user is
    // (spec 6.1: credential stores need gateway authentication).
    issues.push({ path: at('aa_plugin'), message: `a policy whose target_auth method is "${method}" needs an aa_plugin to authenticate users (or use method "password")` });
  }

  if (!target || !targetAuth) return undefined;
  return {
    name: p.name,
    aaPlugin: p.aa_plugin ? { name: p.aa_plugin.name, configuration: p.aa_plugin.configuration! } : undefined,
    target,
    targetAuth,
    hostKeyCheck: {
      knownHosts: p.host_key_check?.known_hosts ? abs(p.host_key_check.known_hosts) : resolve(keysDir, 'known_hosts'),
      policy: p.host_key_check?.policy ?? 'strict',
    },
    usermapping: p.usermapping?.map((m) => ({
      serverUser: m.server_user,
      gatewayUsers: m.gateway_users ?? [],
      gatewayGroups: m.gateway_groups ?? [],
    })),
    tcpForwarding: forwardingRule(p.allow_tcp_forwarding!),
    // Unset, Unix sockets follow the TCP rule: a policy that shuts TCP forwarding must not leave
    // `ssh -L x.sock:/var/run/docker.sock` open.
    streamLocalForwarding: forwardingRule(p.allow_streamlocal_forwarding ?? p.allow_tcp_forwarding!),
    agentForwarding: p.allow_agent_forwarding!,
    x11Forwarding: p.allow_x11_forwarding!,
    idleTimeoutMs: p.idle_timeout! * 1000,
    maxSessionsPerUser: p.max_sessions_per_user,
    recordSessions: p.record_sessions!,
    channels: p.channels!,
  };
}

function forwardingRule(v: boolean | 'local' | 'remote'): ForwardingRule {
  return { local: v === true || v === 'local', remote: v === true || v === 'remote' };
}

function deepFreeze<T>(o: T): T {
  // Only plain data: Maps and class instances (such as net.BlockList) keep working state of their own.
  const plain = Array.isArray(o) || (o !== null && typeof o === 'object' && Object.getPrototypeOf(o) === Object.prototype);
  if (plain && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
