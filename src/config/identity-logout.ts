import { readFileSync } from 'node:fs';
import type { Issue } from './validator.js';
import { array, number, object, optional, parsed, string, type Check } from './validator.js';
import type { KeyPath } from './yaml-source.js';

// config.yaml `identity_logout`: the OpenID Connect Back-Channel Logout listener (src/identity/). Off unless
// present. Its shape is checked here, its files and URLs are resolved by resolveIdentityLogout.

/** The URL exactly as written (an issuer is compared as a string: no normalising). */
const httpUrl = parsed<{ text: string }>((s) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `${JSON.stringify(s)} is not a URL`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `${JSON.stringify(s)} is not an http(s) URL`;
  return { text: s };
});

/** The section's shape; `listen` is the host:port check of config.yaml's own listen. */
export const identityLogoutSchema = <L extends { host: string; port: number }>(listen: Check<L>) => object({
  listen,
  path: optional(string({ pattern: /^\/[A-Za-z0-9._~/-]*$/, hint: 'an absolute URL path such as /backchannel-logout' }), '/backchannel-logout'),
  tls: optional(object({ cert: string(), key: string() })),
  max_token_age: optional(number({ min: 10, max: 86400 }), 300),
  replay_cache_size: optional(number({ integer: true, min: 100, max: 1_000_000 }), 10_000),
  providers: array(object({
    issuer: httpUrl,
    audience: string(),
    jwks_uri: optional(httpUrl),
  }), { min: 1 }),
});

export type RawIdentityLogout = NonNullable<ReturnType<ReturnType<typeof identityLogoutSchema>>>;

export interface IdentityProviderConfig {
  readonly issuer: string;
  /** Our client id at that provider: the logout token's `aud` must contain it. */
  readonly audience: string;
  /** Where its signing keys are; undefined: from the issuer's discovery document. */
  readonly jwksUri: string | undefined;
}

export interface IdentityLogoutConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly path: string;
  /** PEM text of the certificate and key, read at load so that a missing file is a configuration error. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  readonly maxTokenAgeMs: number;
  readonly replayCacheSize: number;
  readonly providers: readonly IdentityProviderConfig[];
}

export function resolveIdentityLogout(
  raw: RawIdentityLogout, path: KeyPath, abs: (p: string) => string, issues: Issue[],
): IdentityLogoutConfig {
  const at = (...rest: (string | number)[]): KeyPath => [...path, ...rest];
  let tls: { cert: string; key: string } | undefined;
  if (raw.tls) {
    const read = (key: 'cert' | 'key'): string => {
      try {
        return readFileSync(abs(raw.tls![key]), 'utf8');
      } catch (err) {
        issues.push({ path: at('tls', key), message: `cannot read ${abs(raw.tls![key])}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        return '';
      }
    };
    tls = { cert: read('cert'), key: read('key') };
  }
  const seen = new Set<string>();
  raw.providers.forEach((p, i) => {
    if (seen.has(p.issuer.text)) issues.push({ path: at('providers', i, 'issuer'), message: `issuer ${p.issuer.text} is listed twice` });
    seen.add(p.issuer.text);
  });
  return {
    listen: { host: raw.listen.host, port: raw.listen.port },
    path: raw.path!,
    tls,
    maxTokenAgeMs: raw.max_token_age! * 1000,
    replayCacheSize: raw.replay_cache_size!,
    providers: raw.providers.map((p) => ({ issuer: p.issuer.text, audience: p.audience, jwksUri: p.jwks_uri?.text })),
  };
}
