import { existsSync } from 'node:fs';
import type { KeyPath } from './yaml-source.js';
import { array, boolean, number, object, oneOf, optional, record, string, type Check, type Ctx, type Issue } from './validator.js';

// config.yaml `sdk:`: what SPS keeps in its own database and the SPS Plugin SDK reaches through it (local
// credential stores, user lists, LDAP server policies, trusted CA lists, the system HTTPS proxy, the RADIUS
// dictionary). Gatehouse hands it to every Python plugin process as JSON (GATEHOUSE_SDK_HOST), and its
// safeguard.sessions.plugin package reads it. Secrets stay references ({file} / {env}) down to the moment a
// plugin asks for one, so Gatehouse never copies or logs them.

/** A secret: a plain string (inline), or exactly one of {value}, {file} (path), {env} (variable name). */
export type SecretRef = { readonly value: string } | { readonly file: string } | { readonly env: string };

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_. -]*$/;

const secret: Check<SecretRef> = (value, path, ctx) => {
  if (typeof value === 'string') return { value };
  const bad = (): undefined => {
    ctx.issues.push({ path, message: 'must be a string, or a mapping with exactly one of "value", "file" (a path) or "env" (a variable name)' });
    return undefined;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad();
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length !== 1) return bad();
  const [kind, text] = entries[0]!;
  if (!['value', 'file', 'env'].includes(kind) || typeof text !== 'string' || text === '') return bad();
  return { [kind]: text } as SecretRef;
};

const credential = object({
  host: string(),
  user: string(),
  passwords: optional(array(secret)),
  keys: optional(array(secret)),
  certificates: optional(array(object({ cert: secret, key: secret }))),
});

const ldapServer = object({
  url: string({ pattern: /^ldaps?:\/\//, hint: 'ldap://host:port or ldaps://host:port' }),
  bind_dn: optional(string()),
  bind_password: optional(secret),
  base_dn: string(),
  user_name_attribute: optional(string(), 'uid'),
  user_filter: optional(string({ pattern: /^\(.*\)$/, hint: 'an LDAP filter in parentheses' })),
  group_base_dn: optional(string()),
  membership: optional(oneOf(['member', 'posix', 'memberof'] as const), 'member'),
  group_name_attribute: optional(string(), 'cn'),
  start_tls: optional(boolean(), false),
  timeout: optional(number({ min: 0.1, max: 300 }), 10),
});

export const sdkSchema = object({
  credential_stores: optional(record(array(credential), NAME)),
  user_lists: optional(record(object({
    allow: oneOf(['no_user', 'all_users'] as const),
    except: optional(array(string()), []),
  }), NAME)),
  ldap_servers: optional(record(ldapServer, NAME)),
  trusted_ca_lists: optional(record(array(secret, { min: 1 }), NAME)),
  https_proxy: optional(object({
    server: string(),
    port: optional(number({ integer: true, min: 1, max: 65535 }), 3128),
    username: optional(string()),
    password: optional(secret),
  })),
  radius_dictionary: optional(string()),
  gateway_fqdn: optional(string()),
});

export type RawSdk = NonNullable<ReturnType<typeof sdkSchema>>;

/**
 * The JSON given to Python plugins, with relative file paths made absolute; a secret file that does not exist
 * or an environment variable that is not set is a configuration error now rather than a failed login later.
 */
export function resolveSdk(raw: RawSdk | undefined, path: KeyPath, abs: (p: string) => string, issues: Issue[]): Record<string, unknown> {
  if (!raw) return {};
  const ctx: Ctx = { issues };
  const ref = (r: SecretRef, at: KeyPath): SecretRef => {
    if ('file' in r) {
      const file = abs(r.file);
      if (!existsSync(file)) ctx.issues.push({ path: at, message: `secret file ${file} does not exist` });
      return { file };
    }
    if ('env' in r && process.env[r.env] === undefined) ctx.issues.push({ path: at, message: `environment variable ${r.env} is not set` });
    return r;
  };
  const refs = (list: readonly SecretRef[] | undefined, at: KeyPath): SecretRef[] => (list ?? []).map((r, i) => ref(r, [...at, i]));
  const stores = Object.fromEntries(Object.entries(raw.credential_stores ?? {}).map(([name, entries]) => [name, {
    credentials: entries.map((e, i) => {
      const at = [...path, 'credential_stores', name, i];
      return {
        host: e.host, user: e.user,
        passwords: refs(e.passwords, [...at, 'passwords']),
        keys: refs(e.keys, [...at, 'keys']),
        certificates: (e.certificates ?? []).map((c, j) => ({ cert: ref(c.cert, [...at, 'certificates', j, 'cert']), key: ref(c.key, [...at, 'certificates', j, 'key']) })),
      };
    }),
  }]));
  const ldap = Object.fromEntries(Object.entries(raw.ldap_servers ?? {}).map(([name, s]) => [name, {
    ...s, ...(s.bind_password ? { bind_password: ref(s.bind_password, [...path, 'ldap_servers', name, 'bind_password']) } : {}),
  }]));
  const cas = Object.fromEntries(Object.entries(raw.trusted_ca_lists ?? {}).map(([name, list]) => [name, refs(list, [...path, 'trusted_ca_lists', name])]));
  const proxy = raw.https_proxy
    ? { ...raw.https_proxy, ...(raw.https_proxy.password ? { password: ref(raw.https_proxy.password, [...path, 'https_proxy', 'password']) } : {}) }
    : undefined;
  if (raw.radius_dictionary && !existsSync(abs(raw.radius_dictionary))) {
    issues.push({ path: [...path, 'radius_dictionary'], message: `${abs(raw.radius_dictionary)} does not exist` });
  }
  return {
    credential_stores: stores,
    user_lists: raw.user_lists ?? {},
    ldap_servers: ldap,
    trusted_ca_lists: cas,
    ...(proxy ? { https_proxy: proxy } : {}),
    ...(raw.radius_dictionary ? { radius_dictionary: abs(raw.radius_dictionary) } : {}),
    ...(raw.gateway_fqdn ? { gateway_fqdn: raw.gateway_fqdn } : {}),
  };
}
