import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ssh2 from 'ssh2';
import { BastionError } from '../core/errors.js';
import { generateEd25519, generateRsa } from './keygen.js';

// SSH key files: Gatehouse's host keys, its client key for targets, the demo target's key. Missing keys are
// generated (mode 0600); a private key that group or others can read is refused, as OpenSSH refuses it.

const { utils } = ssh2;

export type KeyKind = 'ed25519' | 'rsa';

export interface LoadedKey {
  readonly path: string;
  readonly pem: Buffer;
  readonly type: string;
  /** SSH wire-format public key blob. */
  readonly publicBlob: Buffer;
  /** `<type> <base64>` as in authorized_keys / known_hosts. */
  readonly publicLine: string;
}

/** Loads a private key, generating it (and `<path>.pub`) when the file does not exist yet. */
export function ensureKey(path: string, kind: KeyKind, comment = 'gatehouse'): LoadedKey {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const pair = kind === 'rsa' ? generateRsa(3072, comment) : generateEd25519(comment);
    writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    writeFileSync(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  return loadKey(path);
}

export function loadKey(path: string): LoadedKey {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new BastionError('HOST_KEY_INSECURE',
      `${path}: private key is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`);
  }
  const pem = readFileSync(path);
  const parsed = utils.parseKey(pem);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    const why = parsed instanceof Error ? parsed.message : 'several keys in one file';
    throw new BastionError('HOST_KEY_INVALID', `${path}: not a usable unencrypted private key: ${why}`);
  }
  const publicBlob = parsed.getPublicSSH();
  return { path, pem, type: parsed.type, publicBlob, publicLine: `${parsed.type} ${publicBlob.toString('base64')}` };
}

/** Gatehouse's own host keys: keys/host_ed25519 and keys/host_rsa. */
export function ensureHostKeys(keysDir: string): LoadedKey[] {
  return [ensureKey(join(keysDir, 'host_ed25519'), 'ed25519'), ensureKey(join(keysDir, 'host_rsa'), 'rsa')];
}

