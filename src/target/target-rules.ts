import { BlockList, isIP } from 'node:net';
import { canonicalAddress, mappedIpv4 } from './ip.js';

// The allow-list of a connection policy: which targets a user may name. Entries are host names or glob
// patterns (matched against the name the user typed), IP addresses or CIDR blocks (matched against the
// address Gatehouse will actually connect to, after DNS), and ports. Pure.
// IPv4 and IPv6 entries live in two separate lists and an address is checked against its own family only:
// net.BlockList matches IPv4 addresses against IPv6 subnets through the mapped range ::ffff:0:0/96, which
// would let an IPv6 rule such as ::/0 admit every IPv4 host (loopback included). A mapped entry or target
// (::ffff:a.b.c.d) counts as the IPv4 address it carries.

export interface AllowRule {
  readonly names: readonly RegExp[];
  readonly v4: BlockList;
  readonly v6: BlockList;
  readonly hasAddresses: boolean;
  readonly ports: readonly (readonly [number, number])[];
  readonly text: string;
}

const NAME_PATTERN = /^[A-Za-z0-9_*?](?:[A-Za-z0-9_.*?-]*)$/;

export function compileAllowRule(hosts: readonly string[], ports: readonly (readonly [number, number])[]): AllowRule | string {
  const names: RegExp[] = [];
  const v4 = new BlockList();
  const v6 = new BlockList();
  let hasAddresses = false;
  for (const entry of hosts) {
    const h = entry.trim();
    if (h.includes('/')) {
      const [net, bits] = h.split('/') as [string, string];
      const family = isIP(net);
      const prefix = Number(bits);
      if (family === 0 || !/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
        return `"${h}" is not a CIDR block such as 10.0.0.0/8 or fd00::/8`;
      }
      const mapped = family === 6 && prefix >= 96 ? mappedIpv4(net) : undefined;
      if (family === 4) v4.addSubnet(net, prefix, 'ipv4');
      else if (mapped !== undefined) v4.addSubnet(mapped, prefix - 96, 'ipv4');
      else v6.addSubnet(net, prefix, 'ipv6');
      hasAddresses = true;
    } else if (isIP(h.replace(/^\[(.*)\]$/, '$1')) !== 0) {
      const ip = canonicalAddress(h.replace(/^\[(.*)\]$/, '$1'));
      if (isIP(ip) === 4) v4.addAddress(ip, 'ipv4');
      else v6.addAddress(ip, 'ipv6');
      hasAddresses = true;
    } else if (NAME_PATTERN.test(h)) {
      if (!/[A-Za-z]/.test(h.replace(/\*|\?/g, ''))) {
        // "*", "10.0.0.*": a name pattern would also admit any DNS name built to match it.
        return `"${h}" is not a host name pattern; use a CIDR block (such as 10.0.0.0/24) for addresses`;
      }
      names.push(globToRegExp(h));
    } else {
      return `"${h}" is not a host name, pattern, IP address or CIDR block`;
    }
  }
  return { names, v4, v6, hasAddresses, ports, text: `${hosts.join(',')} ports ${ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(',')}` };
}

export function portAllowed(rule: AllowRule, port: number): boolean {
  return rule.ports.some(([lo, hi]) => port >= lo && port <= hi);
}

/** Name patterns match host names only: `*f*` must not admit the IPv6 literal ::ffff:7f00:1. */
export function nameAllowed(rule: AllowRule, name: string): boolean {
  if (isIP(name.replace(/%.*$/s, '')) !== 0) return false;
  return rule.names.some((re) => re.test(name));
}

export function addressAllowed(rule: AllowRule, address: string): boolean {
  const ip = canonicalAddress(address);
  const family = isIP(ip);
  if (!rule.hasAddresses || family === 0) return false;
  return family === 4 ? rule.v4.check(ip, 'ipv4') : rule.v6.check(ip.replace(/%.*$/s, ''), 'ipv6');
}

/** `*` and `?` stay within one DNS label: `db*` admits db01 but not db.attacker.example. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]');
  return new RegExp(`^${body}$`, 'i');
}
