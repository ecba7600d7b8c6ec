import { isIP } from 'node:net';
import { limitsSchema, penaltiesSchema } from './abuse-limits.js';
import { ALLOW_ALL, channelsCheck } from './channel-policy.js';
import { LOG_LEVELS } from '../log/logger.js';
import { SUPPORTED } from '../ssh2x/internals.js';
import { parseTarget, type TargetSpec } from '../target/username.js';
import { sdkSchema } from './sdk-schema.js';
import {
  array, boolean, booleanOr, number, object, oneOf, optional, parsed, record, section, string, type Check,
} from './validator.js';
import { identityLogoutSchema } from './identity-logout.js';
import { policyMaxSessionsPerUser, sessionsSchema } from './sessions-config.js';

// The shape of config.yaml. The README's config.yaml reference describes every key; keep the two in step.

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** Set: every connection must start with a PROXY protocol header from one of these sources. */
  readonly proxyProtocol?: ProxyProtocolSettings;
}

export interface ProxyProtocolSettings {
  /** Addresses or CIDR blocks of the load balancers whose PROXY headers are believed. */
  readonly trusted: readonly string[];
  readonly headerTimeoutMs: number;
}

export const GC_MODES = ['throughput', 'latency'] as const;

const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;

export function parseListen(text: string): ListenAddress | string {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return `${JSON.stringify(text)} is not host:port (for example 0.0.0.0:2222 or [::]:2222)`;
  const port = Number(m[2]);
  if (port > 65535) return `${JSON.stringify(text)} has a port above 65535`;
  return { host: m[1]!, port };
}

const listen = parsed<ListenAddress>(parseListen);

/** An address or a CIDR block (10.0.0.0/8, fd00::/8); undefined when it is one, else what is wrong. */
export function cidrProblem(text: string): string | undefined {
  const m = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(text);
  const family = m ? isIP(m[1]!) : 0;
  if (!m || family === 0) return `${JSON.stringify(text)} is not an IP address or CIDR block such as 10.0.0.0/8`;
  const max = family === 4 ? 32 : 128;
  if (m[2] !== undefined && Number(m[2]) > max) return `${JSON.stringify(text)} has a prefix length above ${max}`;
  return undefined;
}

const cidr: Check<string> = (value, path, ctx) => {
  const s = string()(value, path, ctx);
  if (s === undefined) return undefined;
  const problem = cidrProblem(s);
  if (problem) {
    ctx.issues.push({ path, message: problem });
    return undefined;
  }
  return s;
};

const listenProxied = object({
  address: listen,
  proxy_protocol: optional(object({
    trusted: array(cidr, { min: 1 }),
    header_timeout: optional(number({ min: 0.1, max: 300 }), 5),
  })),
});

/** workers: "auto" (one per CPU) or a count. */
const workers: Check<number | 'auto'> = (value, path, ctx) => {
  if (value === 'auto') return 'auto';
  if (typeof value !== 'number') {
    ctx.issues.push({ path, message: `must be "auto" or a whole number of processes, not ${JSON.stringify(value)}` });
    return undefined;
  }
  return number({ integer: true, min: 1, max: 256 })(value, path, ctx);
};

/** A listen entry: "host:port", or {address: "host:port", proxy_protocol: {trusted: [...]}}. */
const listenEntry: Check<ListenAddress> = (value, path, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return listen(value, path, ctx);
  const o = listenProxied(value, path, ctx);
  if (!o) return undefined;
  const pp = o.proxy_protocol;
  return pp
    ? { ...o.address, proxyProtocol: { trusted: pp.trusted, headerTimeoutMs: pp.header_timeout! * 1000 } }
    : o.address;
};

const hostAlias = parsed<TargetSpec>((s) => {
  const t = parseTarget(s);
  return typeof t === 'string' ? `${JSON.stringify(s)} is not host[:port]: ${t}` : t;
});

const portRange = parsed<[number, number]>((s) => {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s.trim());
  if (!m) return `${JSON.stringify(s)} is not a port or a range such as 2200-2299`;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) return `${JSON.stringify(s)} is not a port range within 1-65535`;
  return [lo, hi];
});

const algorithms = (kind: 'CIPHER' | 'KEX' | 'MAC' | 'SERVER_HOST_KEY'): Check<string[]> => {
  const supported = SUPPORTED[kind];
  return array(string({ pattern: new RegExp(`^(${supported.map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`), hint: `supported: ${supported.join(', ')}` }), { min: 1 });
};

const policy = object({
  name: string({ pattern: NAME, hint: 'a letter followed by letters, digits, ".", "_" or "-"' }),
  aa_plugin: optional(object({
    name: string(),
    configuration: optional(string({ nonEmpty: false }), ''),
  })),
  target: optional(object({
    host: string(),
    port: optional(number({ integer: true, min: 1, max: 65535 }), 22),
  })),
  targets: optional(object({
    allow: array(object({
      hosts: array(string(), { min: 1 }),
      ports: optional(array(portRange, { min: 1 })),
    }), { min: 1 }),
    default_port: optional(number({ integer: true, min: 1, max: 65535 }), 22),
  })),
  credential_store: optional(object({
    name: string(),
    configuration: optional(string({ nonEmpty: false }), ''),
  })),
  target_auth: object({
    method: oneOf(['key', 'password', 'credential_store'] as const),
    key: optional(string()),
  }),
  host_key_check: optional(object({
    known_hosts: optional(string()),
    policy: optional(oneOf(['strict', 'accept-new'] as const), 'strict'),
  })),
  usermapping: optional(array(object({
    server_user: string(),
    gateway_users: optional(array(string())),
    gateway_groups: optional(array(string())),
  }))),
  allow_tcp_forwarding: optional(booleanOr(['local', 'remote'] as const), true),
  allow_streamlocal_forwarding: optional(booleanOr(['local', 'remote'] as const)),
  allow_agent_forwarding: optional(boolean(), false),
  allow_x11_forwarding: optional(boolean(), false),
  idle_timeout: optional(number({ min: 0, max: 30 * 86400 }), 0),
  record_sessions: optional(boolean(), false),
  channels: optional(channelsCheck, ALLOW_ALL),
  max_sessions_per_user: policyMaxSessionsPerUser,
});

// plugin_pool: the runners' pool and the bounds put on plugins (config/plugin-pool.ts).
export const pluginPoolSchema = section({
  warm_workers: optional(number({ integer: true, min: 0, max: 16 }), 2),
  max_active: optional(number({ integer: true, min: 1, max: 10000 }), 64),
  memory_mb: optional(number({ integer: true, min: 16, max: 4096 }), 256),
  session_ended_wait: optional(number({ min: 0, max: 86400 }), 120),
  address_space_mb: optional(number({ integer: true, min: 64, max: 1048576 }), 2048),
  js_external_mb: optional(number({ integer: true, min: 64, max: 1048576 }), 1024),
  output_line_bytes: optional(number({ integer: true, min: 80, max: 1048576 }), 4096),
  output_call_bytes: optional(number({ integer: true, min: 1024, max: 268435456 }), 1048576),
  output_call_lines: optional(number({ integer: true, min: 1, max: 100000 }), 200),
  prompt_bytes: optional(number({ integer: true, min: 64, max: 32768 }), 4096),
});

export const configSchema = object({
  listen: array(listenEntry, { min: 1 }),
  keys_dir: optional(string(), 'keys'),
  plugins_dir: optional(string(), 'plugins'),
  state_dir: optional(string(), 'data'),
  control_socket: optional(string()),
  recordings_dir: optional(string()),
  log_level: optional(oneOf(LOG_LEVELS), 'info'),
  watch: optional(boolean(), false),
  timeouts: section({
    proxy: optional(number({ min: 0.2, max: 86400 }), 600),
    login_grace: optional(number({ min: 0.2, max: 86400 }), 300),
    target_connect: optional(number({ min: 0.2, max: 3600 }), 15),
    shutdown: optional(number({ min: 0, max: 3600 }), 30),
  }),
  limits: section({
    needinfo_rounds: optional(number({ integer: true, min: 1, max: 100 }), 10),
    target_password_tries: optional(number({ integer: true, min: 1, max: 10 }), 3),
    // The older form of limits.max_startups's "full"; set, it takes precedence over it.
    max_unauthenticated: optional(number({ integer: true, min: 1, max: 100000 })),
    ...limitsSchema,
  }),
  penalties: section(penaltiesSchema),
  python: optional(string({ pattern: /^\//, hint: 'an absolute path such as /usr/bin/python3' }), '/usr/bin/python3'),
  plugin_pool: pluginPoolSchema,
  ssh: section({
    ciphers: optional(algorithms('CIPHER')),
    kex: optional(algorithms('KEX')),
    macs: optional(algorithms('MAC')),
    host_key_algorithms: optional(algorithms('SERVER_HOST_KEY')),
    client_alive_interval: optional(number({ min: 0, max: 86400 }), 30),
    client_alive_count_max: optional(number({ integer: true, min: 1, max: 1000 }), 3),
    target_alive_interval: optional(number({ min: 0, max: 86400 }), 15),
    target_alive_count_max: optional(number({ integer: true, min: 1, max: 1000 }), 3),
  }),
  gc: optional(oneOf(GC_MODES), 'throughput'),
  workers: optional(workers, 1),
  database: optional(object({
    url: string({ pattern: /^postgres(ql)?:\/\//, hint: 'a PostgreSQL URL such as postgres://gatehouse@db.example.com/gatehouse' }),
    instance: optional(string({ pattern: /^[A-Za-z0-9_.:-]{1,40}$/, hint: 'up to 40 letters, digits, ".", "_", ":" or "-"' })),
  })),
  hosts: optional(record(hostAlias, /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/)),
  demo_target: optional(object({
    enabled: optional(boolean(), true),
    listen,
  })),
  identity_logout: optional(identityLogoutSchema(listen)),
  sessions: optional(sessionsSchema),
  sdk: optional(sdkSchema),
  policies: array(policy, { min: 1 }),
});

export type RawConfig = NonNullable<ReturnType<typeof configSchema>>;
export type RawPolicy = NonNullable<ReturnType<typeof policy>>;
