import { isIPv4, isIPv6 } from 'node:net';
import type { Socket } from 'node:net';

// The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 and 2: a load balancer that accepted the
// client's TCP connection tells the server, in a header before any of the client's bytes, whom it came from.
// Written here rather than taken from a package because the part that matters for a bastion is stream
// handling (a header split across packets, a deadline, the bytes after it handed on untouched), which no
// parser package does; proxy-protocol-js checks this parser in the unit tests.

export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * 'local': the proxy speaks for itself (a v2 LOCAL health check, or v1 UNKNOWN): the socket's own
   * addresses stand. 'proxy': `source` is the real client.
   */
  readonly command: 'proxy' | 'local';
  readonly source?: ProxyAddress;
  readonly destination?: ProxyAddress;
  readonly tlvs: readonly ProxyTlv[];
}

export type ParseResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'ok'; readonly header: ProxyHeader; readonly length: number };

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 line, CRLF included (spec 2.1). */
const V1_MAX = 107;
const V2_FIXED = 16;

const INCOMPLETE: ParseResult = { kind: 'incomplete' };
const invalid = (reason: string): ParseResult => ({ kind: 'invalid', reason });

/** True when `buf` could still become `sig` (it is a prefix of it, or starts with all of it). */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

/**
 * Parses a PROXY header at the start of `buf`. 'incomplete' means more bytes may still make it valid; bytes
 * that can no longer be a header (an SSH banner, say) are 'invalid' at once, without waiting.
 */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return INCOMPLETE;
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buf);
  return invalid('the connection does not start with a PROXY protocol header');
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    // Only printable US-ASCII belongs in the line; a binary blob need not wait for 107 bytes to be refused.
    for (let i = 0; i < Math.min(buf.length, V1_MAX); i++) {
      const c = buf[i]!;
      if (c !== 0x0d && (c < 0x20 || c > 0x7e)) return invalid('PROXY v1 header holds a byte that is not printable ASCII');
    }
    return buf.length >= V1_MAX ? invalid(`PROXY v1 header has no CRLF within ${V1_MAX} bytes`) : INCOMPLETE;
  }
  if (end + 2 > V1_MAX) return invalid(`PROXY v1 header is longer than ${V1_MAX} bytes`);
  const line = buf.subarray(0, end).toString('latin1');
  const parts = line.split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', length, header: { version: 1, command: 'local', tlvs: [] } };
  if (parts.length !== 6) return invalid('PROXY v1 header does not have 6 fields');
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 'IPv4' : proto === 'TCP6' ? 'IPv6' : undefined;
  if (!family) return invalid(`PROXY v1 protocol ${JSON.stringify(proto)} is not TCP4, TCP6 or UNKNOWN`);
  const isIp = family === 'IPv4' ? isIPv4 : isIPv6;
  if (!isIp(src) || !isIp(dst)) return invalid(`PROXY v1 addresses are not ${family} addresses`);
  const sp = port(sport);
  const dp = port(dport);
  if (sp === undefined || dp === undefined) return invalid('PROXY v1 ports are not numbers within 0-65535');
  return {
    kind: 'ok',
    length,
    header: { version: 1, command: 'proxy', source: { address: src, port: sp, family }, destination: { address: dst, port: dp, family }, tlvs: [] },
  };
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The canonical short form (as node reports remoteAddress): the longest run of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function parseV2(buf: Buffer): ParseResult {
  if (buf.length < V2_FIXED) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid(`PROXY v2 header has version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid(`PROXY v2 header has command ${cmd}`);
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  const length = V2_FIXED + len;
  if (buf.length < length) return INCOMPLETE;
  const body = buf.subarray(V2_FIXED, length);
  const addrLen = fam >> 4 === 1 ? 12 : fam >> 4 === 2 ? 36 : fam >> 4 === 3 ? 216 : 0;
  if (fam >> 4 > 3) return invalid(`PROXY v2 header has address family ${fam >> 4}`);
  if (body.length < addrLen) return invalid('PROXY v2 header is too short for its address family');
  const tlvs: ProxyTlv[] = [];
  for (let i = addrLen; i < body.length;) {
    if (i + 3 > body.length) return invalid('PROXY v2 TLV is cut short');
    const tlen = body.readUInt16BE(i + 1);
    if (i + 3 + tlen > body.length) return invalid('PROXY v2 TLV is longer than the header');
    tlvs.push({ type: body[i]!, value: Buffer.from(body.subarray(i + 3, i + 3 + tlen)) });
    i += 3 + tlen;
  }
  // LOCAL, or PROXY over UNSPEC/UNIX or a datagram transport: nothing about a TCP client to take over.
  if (cmd === 0 || addrLen === 0 || addrLen === 216 || (fam & 0x0f) !== 1) {
    return { kind: 'ok', length, header: { version: 2, command: 'local', tlvs } };
  }
  const v4 = addrLen === 12;
  const a = v4 ? 4 : 16;
  const text = (b: Buffer): string => (v4 ? [...b].join('.') : ipv6Text(b));
  const family = v4 ? 'IPv4' : 'IPv6';
  return {
    kind: 'ok',
    length,
    header: {
      version: 2,
      command: 'proxy',
      source: { address: text(body.subarray(0, a)), port: body.readUInt16BE(2 * a), family },
      destination: { address: text(body.subarray(a, 2 * a)), port: body.readUInt16BE(2 * a + 2), family },
      tlvs,
    },
  };
}

export class ProxyHeaderError extends Error {}

/**
 * Reads a PROXY header from the start of `sock` within `deadlineMs`. On success the socket is paused with the
 * bytes that followed the header pushed back (unshift), so that the next reader sees the client's stream
 * exactly as sent; the caller resumes it. On failure the promise rejects and the socket is left to the caller.
 */
export function readProxyHeader(sock: Socket, deadlineMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, header?: ProxyHeader, rest?: Buffer): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('end', onEnd);
      sock.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) sock.unshift(rest);
      resolve(header!);
    };
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      const r = parseProxyHeader(buf);
      if (r.kind === 'incomplete') return;
      if (r.kind === 'invalid') return finish(new ProxyHeaderError(r.reason));
      finish(undefined, r.header, buf.subarray(r.length));
    };
    const onError = (err: Error): void => finish(err);
    const onEnd = (): void => finish(new ProxyHeaderError('the connection ended before a whole PROXY header arrived'));
    const timer = setTimeout(() => finish(new ProxyHeaderError(`no whole PROXY header within ${deadlineMs} ms`)), deadlineMs);
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('end', onEnd);
  });
}
