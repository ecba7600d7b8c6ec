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

type Pick<T> = { item: T; note?: string } | { skip: string };

/**
 * The checks both getters share: a dict (or None), dict cookies, and `key` a list (or absent). `pick` turns each
 * list entry into an item (with a note worth logging, perhaps), or into the reason it is skipped.
 */
function checkList<T>(hook: string, key: string, raw: JsonValue, pick: (entry: JsonValue, i: number) => Pick<T>): CredentialCheck<T> {
  const body = raw ?? {};
  if (!isPlainObject(body)) return { ok: false, message: `${hook} returned ${Array.isArray(body) ? 'a list' : `a ${typeof body}`} instead of a dict` };
  for (const k of ['cookie', 'session_cookie'] as const) {
    const v = body[k];
    if (v !== undefined && v !== null && !isPlainObject(v)) return { ok: false, message: `${hook} returned a "${k}" that is not a dict` };
  }
  const list = body[key];
  if (list !== undefined && list !== null && !Array.isArray(list)) return { ok: false, message: `${hook} returned "${key}" that is not a list` };
  const items: T[] = [];
  const skipped: string[] = [];
  (list ?? []).forEach((entry, i) => {
    const p = pick(entry, i);
    if ('skip' in p) {
      skipped.push(p.skip);
    } else {
      items.push(p.item);
      if (p.note) skipped.push(p.note);
    }
  });
  const cookie = isPlainObject(body['cookie']) ? body['cookie'] : undefined;
  const sessionCookie = isPlainObject(body['session_cookie']) ? body['session_cookie'] : undefined;
  return { ok: true, result: { items, cookie, sessionCookie, skipped } };
}

export function checkPasswordList(raw: JsonValue): CredentialCheck<string> {
  return checkList<string>('get_password_list', 'passwords', raw, (p, i) =>
    (typeof p === 'string' && p.length > 0 ? { item: p } : { skip: `passwords[${i}] is not a non-empty string` }));
}

export function checkPrivateKeyList(raw: JsonValue): CredentialCheck<PrivateKey> {
  return checkList<PrivateKey>('get_private_key_list', 'private_keys', raw, (entry, i) => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
      return { skip: `private_keys[${i}] is not a [key_type, key] pair` };
    }
    const [label, pem] = entry as [string, string];
    const parsed = ssh2.utils.parseKey(pem);
    if (parsed instanceof Error || Array.isArray(parsed)) {
      return {
        skip: SUPPORTED_KEY_TYPES.has(label)
          ? `private_keys[${i}] (${label}) is not a usable unencrypted private key`
          : `private_keys[${i}] has unsupported key type ${JSON.stringify(label)}`,
      };
    }
    if (!SUPPORTED_KEY_TYPES.has(parsed.type)) return { skip: `private_keys[${i}] has unsupported key type ${JSON.stringify(parsed.type)}` };
    // Stores label keys loosely (the Safeguard plugin calls every key ssh-rsa): the key itself decides.
    const note = parsed.type === label ? undefined : `private_keys[${i}] is labelled ${label} but is a ${parsed.type} key; used as ${parsed.type}`;
    return { item: { type: parsed.type, pem }, ...(note ? { note } : {}) };
  });
}
