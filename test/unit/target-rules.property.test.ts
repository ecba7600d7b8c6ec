import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { addressAllowed, compileAllowRule, nameAllowed, type AllowRule } from '../../src/target/target-rules.js';
import { canonicalAddress, ipv6Bytes, mappedIpv4 } from '../../src/target/ip.js';

// Allow-lists mean what they say (issue 15): IPv4 targets match IPv4 rules only and IPv6 targets IPv6 rules
// only; an IPv4-mapped IPv6 address in any spelling counts as the IPv4 address it carries; ::/0 never admits
// an IPv4 host. Checked against a reference model over bigints, 10,000 cases per property.

const RUNS = 10_000;

const v4Int = fc.integer({ min: 0, max: 0xffffffff });
const v4Text = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
const v6Int = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

function v6Words(n: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
}

/** The many ways to write one IPv6 address: full, zero-padded, upper case, compressed. */
const v6Spelling = (n: bigint): fc.Arbitrary<string> => fc.record({ pad: fc.boolean(), upper: fc.boolean(), compress: fc.boolean() })
  .map(({ pad, upper, compress }) => {
    let words = v6Words(n).map((w) => (pad ? w.toString(16).padStart(4, '0') : w.toString(16)));
    if (upper) words = words.map((w) => w.toUpperCase());
    let text = words.join(':');
    if (compress) {
      // Compress the longest run of zero words, as any correct writer may.
      const m = /(^|:)(0+(?::0+)+)(:|$)/.exec(text);
      if (m) text = `${text.slice(0, m.index)}::${text.slice(m.index + m[0].length)}`;
    }
    return text;
  });

/** An IPv4 address written as an IPv4-mapped IPv6 address, in one of its spellings. */
const mappedSpelling = (n: number): fc.Arbitrary<string> => fc.oneof(
  fc.constantFrom(`::ffff:${v4Text(n)}`, `::FFFF:${v4Text(n)}`, `0:0:0:0:0:ffff:${v4Text(n)}`, `0000:0000:0000:0000:0000:FFFF:${v4Text(n)}`),
  v6Spelling((0xffffn << 32n) | BigInt(n)),
);

const v4Cidr = fc.tuple(v4Int, fc.integer({ min: 0, max: 32 })).map(([n, p]) => ({ net: n, prefix: p }));
const v6Cidr = fc.tuple(v6Int, fc.integer({ min: 0, max: 128 }));

function inV4(ip: number, net: number, prefix: number): boolean {
  if (prefix === 0) return true;
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return ((ip & mask) >>> 0) === ((net & mask) >>> 0);
}

function inV6(ip: bigint, net: bigint, prefix: number): boolean {
  const shift = BigInt(128 - prefix);
  return ip >> shift === net >> shift;
}

const MAPPED = 0xffffn << 32n;
const isMapped = (n: bigint): boolean => n >> 32n === 0xffffn;

function rule(hosts: string[]): AllowRule {
  const r = compileAllowRule(hosts, [[22, 22]]);
  assert.ok(typeof r !== 'string', String(r));
  return r;
}

describe('allow rules: address families (property-based, fast-check)', () => {
  test('every spelling of a mapped address parses to ::ffff:a.b.c.d and canonicalises to a.b.c.d', () => {
    fc.assert(fc.property(v4Int.chain((n) => fc.tuple(fc.constant(n), mappedSpelling(n))), ([n, text]) => {
      assert.equal(isIP(text), 6, text);
      assert.equal(mappedIpv4(text), v4Text(n), text);
      assert.equal(canonicalAddress(text), v4Text(n));
    }), { numRuns: RUNS });
  });

  test('IPv6 rules never admit an IPv4 target, in any spelling (::/0 and ::ffff:0:0/95 included)', () => {
    const anyV6Rule = fc.oneof(
      fc.constantFrom('::/0', '::/64', '::ffff:0:0/80', '::ffff:0:0/95', '0:0:0:0:0:0:0:0/0'),
      v6Cidr.filter(([net, p]) => !(p >= 96 && isMapped(net))).chain(([net, p]) => v6Spelling(net).map((s) => `${s}/${p}`)),
    );
    fc.assert(fc.property(fc.array(anyV6Rule, { minLength: 1, maxLength: 3 }), v4Int.chain((n) => fc.oneof(fc.constant(v4Text(n)), mappedSpelling(n))),
      (hosts, target) => {
        assert.equal(addressAllowed(rule(hosts), target), false, `${hosts.join(',')} admitted ${target}`);
      }), { numRuns: RUNS });
  });

  test('IPv4 rules admit exactly the IPv4 addresses in their blocks, plain or mapped, and no IPv6 target', () => {
    fc.assert(fc.property(v4Cidr, v4Int, fc.boolean(), fc.nat(), (cidr, ip, writeMapped, pick) => {
      const r = rule([`${v4Text(cidr.net)}/${cidr.prefix}`]);
      const target = writeMapped ? fc.sample(mappedSpelling(ip), { numRuns: 1, seed: pick })[0]! : v4Text(ip);
      assert.equal(addressAllowed(r, target), inV4(ip, cidr.net, cidr.prefix), `${v4Text(cidr.net)}/${cidr.prefix} vs ${target}`);
    }), { numRuns: RUNS });
    fc.assert(fc.property(v4Cidr, v6Int.filter((n) => !isMapped(n)), (cidr, ip) => {
      const r = rule([`${v4Text(cidr.net)}/${cidr.prefix}`]);
      assert.equal(addressAllowed(r, v6Words(ip).map((w) => w.toString(16)).join(':')), false);
    }), { numRuns: RUNS });
  });

  test('a mapped CIDR rule (::ffff:a.b.c.d/96+n) is the IPv4 block a.b.c.d/n', () => {
    fc.assert(fc.property(v4Cidr, v4Int, (cidr, ip) => {
      const r = rule([`::ffff:${v4Text(cidr.net)}/${96 + cidr.prefix}`]);
      assert.equal(addressAllowed(r, v4Text(ip)), inV4(ip, cidr.net, cidr.prefix));
    }), { numRuns: RUNS });
  });

  test('IPv6 rules admit exactly the non-mapped IPv6 addresses in their blocks, in any spelling', () => {
    fc.assert(fc.property(v6Cidr, v6Int.filter((n) => !isMapped(n)), fc.nat(), ([net, p], ip, seed) => {
      fc.pre(!(p >= 96 && isMapped(net)));
      const r = rule([`${v6Words(net).map((w) => w.toString(16)).join(':')}/${p}`]);
      const target = fc.sample(v6Spelling(ip), { numRuns: 1, seed })[0]!;
      assert.equal(addressAllowed(r, target), inV6(ip, net, p), `${net.toString(16)}/${p} vs ${target}`);
    }), { numRuns: RUNS });
  });

  test('name patterns never match an IP literal', () => {
    const r = rule(['*f*', 'f*', '*a*', '?f*', 'db*']);
    assert.ok(nameAllowed(r, 'db01'));
    fc.assert(fc.property(fc.oneof(v4Int.chain(mappedSpelling), v6Int.chain(v6Spelling)), (ip) => {
      assert.equal(nameAllowed(r, ip), false, ip);
    }), { numRuns: RUNS });
  });

  test('examples from the issue', () => {
    assert.equal(addressAllowed(rule(['::/0']), '127.0.0.1'), false);
    assert.equal(addressAllowed(rule(['::/0']), '::ffff:127.0.0.1'), false);
    assert.equal(addressAllowed(rule(['::/0']), '::ffff:7f00:1'), false);
    assert.equal(addressAllowed(rule(['::/0']), '2001:db8::1'), true);
    assert.equal(addressAllowed(rule(['127.0.0.0/8']), '::FFFF:127.0.0.1'), true);
    assert.equal(addressAllowed(rule(['::ffff:127.0.0.1']), '127.0.0.1'), true);
    assert.deepEqual([...ipv6Bytes('::ffff:1.2.3.4')!].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
    assert.equal(MAPPED >> 32n, 0xffffn);
  });
});
