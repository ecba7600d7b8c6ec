// Reads the plugin's configuration text (INI, as SPS passes it). Everything is in the [oidc] section:
//   issuer = https://login.example.com/realms/staff   (discovery: <issuer>/.well-known/openid-configuration)
//   client_id = gatehouse
//   client_secret = ...        or client_secret_file = /etc/gatehouse/oidc.secret
//                              or client_secret_env = GATEHOUSE_OIDC_SECRET      (none: a public client)
//   scope = openid profile     user_claim = preferred_username     groups_claim = groups
//   poll_timeout = 120         http_timeout = 10                    (seconds)
import { readFileSync } from 'node:fs';

function ini(text) {
  const out = {};
  let section = '';
  for (const raw of String(text ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      continue;
    }
    const m = /^([^=:]+)[=:](.*)$/.exec(line);
    if (section === 'oidc' && m) out[m[1].trim()] = m[2].trim();
  }
  return out;
}

function seconds(value, fallback, name) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`[oidc] ${name} must be a positive number of seconds, not ${JSON.stringify(value)}`);
  return n;
}

/** The secret is read on every call, so that a rotated file or variable takes effect without a reload. */
function secret(c) {
  const given = ['client_secret', 'client_secret_file', 'client_secret_env'].filter((k) => c[k] !== undefined && c[k] !== '');
  if (given.length > 1) throw new Error(`[oidc] give one of ${given.join(', ')}, not several`);
  if (c.client_secret_file) {
    const s = readFileSync(c.client_secret_file, 'utf8').trim();
    if (s === '') throw new Error(`[oidc] client_secret_file ${c.client_secret_file} is empty`);
    return s;
  }
  if (c.client_secret_env) {
    const s = process.env[c.client_secret_env];
    if (!s) throw new Error(`[oidc] the environment variable ${c.client_secret_env} (client_secret_env) is not set`);
    return s;
  }
  return c.client_secret || undefined;
}

export function readSettings(configuration) {
  const c = ini(configuration);
  if (!c.issuer) throw new Error('[oidc] issuer is not set');
  if (!c.client_id) throw new Error('[oidc] client_id is not set');
  return {
    issuer: c.issuer,
    clientId: c.client_id,
    clientSecret: secret(c),
    scope: c.scope || 'openid profile',
    userClaim: c.user_claim || 'preferred_username',
    groupsClaim: c.groups_claim || 'groups',
    pollMs: seconds(c.poll_timeout, 120, 'poll_timeout') * 1000,
    httpMs: seconds(c.http_timeout, 10, 'http_timeout') * 1000,
  };
}
