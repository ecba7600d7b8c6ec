import { BlockList, isIPv4, isIPv6 } from 'node:net';

// Client addresses as the abuse limits see them: an IPv4 address that reaches an IPv6 listener as
// ::ffff:a.b.c.d is the IPv4 address it carries (otherwise one client would have two identities), and a
// network block is the address with its host bits cleared (/24 of IPv4, /64 of IPv6 by default: one
// subscriber usually holds a whole IPv6 /64, so per-address limits alone mean nothing there).

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The address a limit counts: mapped IPv4 unwrapped, zone index dropped, IPv6 lower-cased. */
export function canonicalIp(ip: string): string {
  const m = MAPPED.exec(ip);
  if (m) return m[1]!;
  const bare = ip.replace(/%.*$/, '');
  return isIPv6(bare) ? bare.toLowerCase() : bare;
}

function ipv6Groups(ip: string): number[] | undefined {
  let text = ip;
  // An embedded IPv4 tail (::1.2.3.4) becomes two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = part(halves[0]!);
  const rest = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 0) return undefined;
  return [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
}

/** The network block of `ip` ("10.1.2.0/24", "2001:db8:0:1::/64"), the key per-network limits count by. */
export function networkBlock(ip: string, v4Prefix: number, v6Prefix: number): string {
  const c = canonicalIp(ip);
  if (isIPv4(c)) {
    const n = c.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    // Bitwise operators are 32-bit signed in JavaScript: clear the host bits arithmetically.
    const net = n - (n % 2 ** (32 - v4Prefix));
    return `${[24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.')}/${v4Prefix}`;
  }
  const groups = ipv6Groups(c);
  if (!groups) return c;
  const out = groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, v6Prefix - i * 16));
    return keep === 16 ? g : keep === 0 ? 0 : g & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${out.map((g) => g.toString(16)).join(':')}/${v6Prefix}`;
}

/** A list of addresses and CIDR blocks ("127.0.0.1", "10.0.0.0/8", "2001:db8::/32"); undefined if valid. */
export function addressListError(entries: readonly string[]): string | undefined {
  for (const e of entries) {
    const [addr, bits, extra] = e.split('/');
    const v4 = isIPv4(addr ?? '');
    if (extra !== undefined || (!v4 && !isIPv6(addr ?? ''))) return `${JSON.stringify(e)} is not an IP address or a CIDR block`;
    if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (v4 ? 32 : 128))) return `${JSON.stringify(e)} has a bad prefix length`;
  }
  return undefined;
}

/**
 * Membership in such a list. IPv4 clients are matched against the IPv4 entries only and IPv6 against IPv6,
 * in two separate lists: one BlockList would let an IPv6 entry covering ::ffff:0:0/96 (such as ::/0) match
 * every IPv4 address.
 */
export function addressMatcher(entries: readonly string[]): (ip: string) => boolean {
  const lists = { ipv4: new BlockList(), ipv6: new BlockList() };
  for (const e of entries) {
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
    if (bits === undefined) lists[type].addAddress(addr, type);
    else lists[type].addSubnet(addr, Number(bits), type);
  }
  return (ip) => {
    const c = canonicalIp(ip);
    const type = isIPv4(c) ? 'ipv4' : 'ipv6';
    return lists[type].check(c, type);
  };
}
