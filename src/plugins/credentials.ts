import ssh2 from 'ssh2';
import type { JsonObject, JsonValue } from './contract.js';
import { isPlainObject } from './verdict.js';

// Checks what a credential store returned (spec 6.3, 11.17, 11.18). Pure. `None` means "nothing found";
// private keys that ssh2 cannot use are skipped with a reason (never with key material), the rest keep the
// order the store gave them.

export interface CredentialResult<T> {
  readonly items: readonly T[];
  readonly cookie: JsonObject | undefined;
  readonly sessionCookie: JsonObject | undefined;
  /** Entries dropped (or relabelled), and why; safe to log. */
  readonly skipped: readonly string[];
}

export interface PrivateKey {
  readonly type: string;
  readonly pem: string;
}

export type CredentialCheck<T> = { ok: true; result: CredentialResult<T> } | { ok: false; message: string };

const SUPPORTED_KEY_TYPES = new Set([
  'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
]);

function common(hook: string, raw: JsonValue): { cookie?: JsonObject; sessionCookie?: JsonObject; body: JsonObject } | string {
  if (raw === null) return { body: {} };
  if (!isPlainObject(raw)) return `${hook} returned ${Array.isArray(raw) ? 'a list' : `a ${typeof raw}`} instead of a dict`;
  for (const k of ['cookie', 'session_cookie'] as const) {
    const v = raw[k];
    if (v !== undefined && v !== null && !isPlainObject(v)) return `${hook} returned a "${k}" that is not a dict`;
  }
  return {
    cookie: isPlainObject(raw['cookie']) ? raw['cookie'] : undefined,
    sessionCookie: isPlainObject(raw['session_cookie']) ? raw['session_cookie'] : undefined,
    body: raw,
  };
}

export function checkPasswordList(raw: JsonValue): CredentialCheck<string> {
  const c = common('get_password_list', raw);
  if (typeof c === 'string') return { ok: false, message: c };
  const list = c.body['passwords'];
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    return { ok: false, message: 'get_password_list returned "passwords" that is not a list' };
  }
  const items: string[] = [];
  const skipped: string[] = [];
  (list ?? []).forEach((p, i) => {
    if (typeof p === 'string' && p.length > 0) items.push(p);
    else skipped.push(`passwords[${i}] is not a non-empty string`);
  });
  return { ok: true, result: { items, cookie: c.cookie, sessionCookie: c.sessionCookie, skipped } };
}

export function checkPrivateKeyList(raw: JsonValue): CredentialCheck<PrivateKey> {
  const c = common('get_private_key_list', raw);
  if (typeof c === 'string') return { ok: false, message: c };
  const list = c.body['private_keys'];
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    return { ok: false, message: 'get_private_key_list returned "private_keys" that is not a list' };
  }
  const items: PrivateKey[] = [];
  const skipped: string[] = [];
  (list ?? []).forEach((entry, i) => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
      skipped.push(`private_keys[${i}] is not a [key_type, key] pair`);
      return;
    }
    const [label, pem] = entry as [string, string];
    const parsed = ssh2.utils.parseKey(pem);
    if (parsed instanceof Error || Array.isArray(parsed)) {
      skipped.push(SUPPORTED_KEY_TYPES.has(label)
        ? `private_keys[${i}] (${label}) is not a usable unencrypted private key`
        : `private_keys[${i}] has unsupported key type ${JSON.stringify(label)}`);
      return;
    }
    if (!SUPPORTED_KEY_TYPES.has(parsed.type)) {
      skipped.push(`private_keys[${i}] has unsupported key type ${JSON.stringify(parsed.type)}`);
      return;
    }
    // Stores label keys loosely (the Safeguard plugin calls every key ssh-rsa): the key itself decides.
    if (parsed.type !== label) skipped.push(`private_keys[${i}] is labelled ${label} but is a ${parsed.type} key; used as ${parsed.type}`);
    items.push({ type: parsed.type, pem });
  });
  return { ok: true, result: { items, cookie: c.cookie, sessionCookie: c.sessionCookie, skipped } };
}
