import { BlockList, isIP } from 'node:net';

// The allow-list of a connection policy: which targets a user may name. Entries are host names or glob
// patterns (matched against the name the user typed), IP addresses or CIDR blocks (matched against the
// address Gatehouse will actually connect to, after DNS), and ports. Pure.

export interface AllowRule {
  readonly names: readonly RegExp[];
  readonly addresses: BlockList;
  readonly hasAddresses: boolean;
  readonly ports: readonly (readonly [number, number])[];
  readonly text: string;
}

const NAME_PATTERN = /^[A-Za-z0-9_*?](?:[A-Za-z0-9_.*?-]*)$/;

export function compileAllowRule(hosts: readonly string[], ports: readonly (readonly [number, number])[]): AllowRule | string {
  const names: RegExp[] = [];
  const addresses = new BlockList();
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
      addresses.addSubnet(net, prefix, family === 4 ? 'ipv4' : 'ipv6');
      hasAddresses = true;
    } else if (isIP(h.replace(/^\[(.*)\]$/, '$1')) !== 0) {
      const ip = h.replace(/^\[(.*)\]$/, '$1');
      addresses.addAddress(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
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
  return { names, addresses, hasAddresses, ports, text: `${hosts.join(',')} ports ${ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(',')}` };
}

export function portAllowed(rule: AllowRule, port: number): boolean {
  return rule.ports.some(([lo, hi]) => port >= lo && port <= hi);
}

export function nameAllowed(rule: AllowRule, name: string): boolean {
  return rule.names.some((re) => re.test(name));
}

export function addressAllowed(rule: AllowRule, ip: string): boolean {
  const family = isIP(ip);
  if (!rule.hasAddresses || family === 0) return false;
  return rule.addresses.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** `*` and `?` stay within one DNS label: `db*` admits db01 but not db.attacker.example. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*').replace(/\?/g, '[^.]');
  return new RegExp(`^${body}$`, 'i');
}
