import { createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

// Target host-key verification against an OpenSSH known_hosts file: plain and hashed (|1|salt|hash) host
// names, [host]:port for ports other than 22, wildcard and negated patterns, @revoked lines. Parsing and
// checking are pure; only `appendKnownHost` writes (policy accept-new).

export interface KnownHostLine {
  readonly marker: '' | '@revoked' | '@cert-authority';
  readonly patterns: string;
  readonly keyType: string;
  readonly key: Buffer;
}

export type HostKeyStatus = 'ok' | 'unknown' | 'mismatch' | 'revoked';

export function parseKnownHosts(text: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostLine['marker'] = '';
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostLine['marker'];
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) continue;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) continue;
    out.push({ marker, patterns, keyType, key });
  }
  return out;
}

export function readKnownHosts(file: string): KnownHostLine[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
}

/** The name OpenSSH records a host under: `host` on port 22, `[host]:port` otherwise. */
export function hostEntryName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function lineMatches(line: KnownHostLine, entryName: string): boolean {
  if (line.patterns.startsWith('|1|')) {
    const [, , salt, hash] = line.patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(entryName).digest('base64') === hash;
  }
  let matched = false;
  for (const p of line.patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), entryName)) return false;
    } else if (globMatch(p, entryName)) {
      matched = true;
    }
  }
  return matched;
}

export function checkHostKey(lines: readonly KnownHostLine[], names: readonly string[], port: number, key: Buffer): HostKeyStatus {
  const entryNames = names.map((n) => hostEntryName(n, port));
  const relevant = lines.filter((l) => l.marker !== '@cert-authority' && entryNames.some((n) => lineMatches(l, n)));
  if (relevant.some((l) => l.marker === '@revoked' && l.key.equals(key))) return 'revoked';
  const trusted = relevant.filter((l) => l.marker === '');
  if (trusted.some((l) => l.key.equals(key))) return 'ok';
  return trusted.length > 0 ? 'mismatch' : 'unknown';
}

/** Key types on record for the host, so the connection can ask the target for one of those first. */
export function knownKeyTypes(lines: readonly KnownHostLine[], names: readonly string[], port: number): string[] {
  const entryNames = names.map((n) => hostEntryName(n, port));
  const types = lines.filter((l) => l.marker === '' && entryNames.some((n) => lineMatches(l, n))).map((l) => l.keyType);
  return [...new Set(types)];
}

export function appendKnownHost(file: string, name: string, port: number, key: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${hostEntryName(name, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o644 });
}

/** The key type is the first string of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

function globMatch(pattern: string, text: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === text.toLowerCase();
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i').test(text);
}
