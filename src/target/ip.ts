import { isIP } from 'node:net';

// IP address forms for allow-lists. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, in any of its spellings:
// hex words, leading zeros, upper case, the full eight groups) is a way to reach an IPv4 host over an IPv6
// socket, so Gatehouse treats it as the IPv4 address it carries, both when it checks a rule and when it
// connects. Pure.

/** The 16 bytes of an IPv6 address (zone index ignored), or undefined if `ip` is not one. */
export function ipv6Bytes(ip: string): Uint8Array | undefined {
  const bare = ip.replace(/%.*$/s, '');
  if (isIP(bare) !== 6) return undefined;
  let text = bare;
  const words: number[] = [];
  // A trailing dotted quad stands for the last two 16-bit words.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  let tail: number[] = [];
  if (quad) {
    const b = quad.slice(1, 5).map(Number);
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    text = text.slice(0, quad.index) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  words.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  if (quad) words.splice(6, 2, ...tail);
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** The IPv4 address an IPv4-mapped IPv6 address carries, or undefined for any other input. */
export function mappedIpv4(ip: string): string | undefined {
  const b = ipv6Bytes(ip);
  if (!b || !isMappedPrefix(b)) return undefined;
  return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
}

/** `ip` with an IPv4-mapped IPv6 address replaced by its IPv4 address; anything else unchanged. */
export function canonicalAddress(ip: string): string {
  return mappedIpv4(ip) ?? ip;
}

/** True if the first 96 bits are ::ffff:0:0/96. */
function isMappedPrefix(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
