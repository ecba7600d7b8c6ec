import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { Admission, dropProbability } from '../../src/ssh/admission.js';
import { Penalties, type PenaltySettings } from '../../src/ssh/penalties.js';
import { addressMatcher, canonicalIp, networkBlock } from '../../src/target/source-address.js';
import { loopbackPair } from '../helpers/tcp-pair.js';

// The pure parts of admission and penalties: address blocks, sshd's early-drop curve, penalty arithmetic with
// a clock of the test's own, and the config keys with their defaults and errors.

function capture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { log: createLogger('debug', sink), lines };
}

const SETTINGS: PenaltySettings = {
  enabled: true, seconds: { authfail: 5, noauth: 1, grace_exceeded: 10 }, minMs: 15_000, maxMs: 600_000,
  exempt: ['10.9.0.0/16', '2001:db8:ffff::1'], v4Prefix: 32, v6Prefix: 64, maxSources: 3,
};

describe('source addresses', () => {
  test('mapped IPv4 is the IPv4 address; blocks clear the host bits', () => {
    assert.equal(canonicalIp('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(canonicalIp('FE80::1%eth0'), 'fe80::1');
    assert.equal(networkBlock('192.0.2.77', 24, 64), '192.0.2.0/24');
    assert.equal(networkBlock('::ffff:192.0.2.77', 24, 64), '192.0.2.0/24');
    assert.equal(networkBlock('255.255.255.255', 8, 64), '255.0.0.0/8');
    assert.equal(networkBlock('10.1.2.3', 32, 64), '10.1.2.3/32');
    assert.equal(networkBlock('2001:db8:1:2:3:4:5:6', 24, 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(networkBlock('2001:db8::ab', 24, 56), '2001:db8:0:0:0:0:0:0/56');
    assert.equal(networkBlock('2001:db8:0:1ff::1', 24, 56), '2001:db8:0:100:0:0:0:0/56');
  });

  test('an IPv6 entry never matches an IPv4 client, even one covering the mapped range', () => {
    const m = addressMatcher(['::/0', '10.0.0.0/8']);
    assert.equal(m('192.0.2.1'), false);
    assert.equal(m('::ffff:192.0.2.1'), false);
    assert.equal(m('10.2.3.4'), true);
    assert.equal(m('::ffff:10.2.3.4'), true);
    assert.equal(m('2001:db8::1'), true);
  });
});

describe('MaxStartups early drop', () => {
  test('no drop below start, rate % at start, rising to certain at full', () => {
    const l = { start: 10, rate: 30, full: 100 };
    assert.equal(dropProbability(9, l), 0);
    assert.equal(dropProbability(10, l), 0.3);
    assert.equal(dropProbability(55, l), 0.65);
    assert.equal(dropProbability(100, l), 1);
  });

  test('drops are logged with their rule; a released ticket frees its slot', async () => {
    const { log, lines } = capture();
    const penalties = new Penalties(() => SETTINGS, log);
    let roll = 0.99;
    const a = new Admission(() => ({ start: 2, rate: 50, full: 4, perSource: 3, perNetwork: 10, v4Prefix: 24, v6Prefix: 64, graceMs: 60_000 }), penalties, log, () => roll);
    const pairs = await Promise.all([1, 2, 3, 4, 5].map(() => loopbackPair()));
    try {
      const t1 = a.admit(pairs[0]!.peer);
      const t2 = a.admit(pairs[1]!.peer);
      assert.ok(t1 && t2);
      roll = 0.1; // below the 50 % drop probability at 2 in progress
      assert.equal(a.admit(pairs[2]!.peer), undefined);
      roll = 0.99;
      assert.ok(a.admit(pairs[3]!.peer));
      assert.equal(a.admit(pairs[4]!.peer), undefined); // per_source 3 from 127.0.0.1
      assert.deepEqual(lines.filter((l) => l.event === 'connection.dropped').map((l) => l.rule), ['max_startups_random', 'per_source']);
      assert.equal(a.inProgress, 3);
      t1.release();
      t1.release();
      assert.equal(a.inProgress, 2);
    } finally {
      for (const p of pairs) { p.sock.destroy(); p.close(); }
    }
  });
});

/** Accepted sockets of connections from `from` (loopback addresses other than 127.0.0.1 work on Linux). */
async function acceptedFrom(froms: string[]): Promise<{ socks: Socket[]; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const clients: Socket[] = [];
  const socks: Socket[] = [];
  for (const localAddress of froms) {
    const accepted = once(server, 'connection');
    const c = connect({ port, host: '127.0.0.1', localAddress });
    c.on('error', () => undefined);
    clients.push(c);
    socks.push(((await accepted) as [Socket])[0]);
  }
  return { socks, close: () => { for (const x of [...clients, ...socks]) x.destroy(); server.close(); } };
}

describe('per-network limit and the deadline from accept', () => {
  test('a network block is counted across its addresses; another block is not affected', async () => {
    const { log, lines } = capture();
    const a = new Admission(() => ({ start: 100, rate: 30, full: 200, perSource: 10, perNetwork: 2, v4Prefix: 24, v6Prefix: 64, graceMs: 60_000 }), new Penalties(() => SETTINGS, log), log);
    const c = await acceptedFrom(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.1.5']);
    try {
      assert.ok(a.admit(c.socks[0]!));
      assert.ok(a.admit(c.socks[1]!));
      assert.equal(a.admit(c.socks[2]!), undefined);
      assert.ok(a.admit(c.socks[3]!));
      const drop = lines.find((l) => l.event === 'connection.dropped');
      assert.equal(drop?.rule, 'per_network');
      assert.equal(drop?.network, '127.0.0.0/24');
    } finally {
      c.close();
    }
  });

  test('a connection that never gets further is closed at the grace time, logged, and penalised', async () => {
    const { log, lines } = capture();
    const penalties = new Penalties(() => ({ ...SETTINGS, minMs: 1 }), log);
    const a = new Admission(() => ({ start: 100, rate: 30, full: 200, perSource: 10, perNetwork: 10, v4Prefix: 24, v6Prefix: 64, graceMs: 200 }), penalties, log);
    const c = await acceptedFrom(['127.0.0.6']);
    try {
      assert.ok(a.admit(c.socks[0]!));
      await once(c.socks[0]!, 'close');
      assert.equal(a.inProgress, 0);
      assert.equal(lines.find((l) => l.event === 'connection.timeout')?.ip, '127.0.0.6');
      assert.equal(penalties.check('127.0.0.6')?.lastKind, 'grace_exceeded');
    } finally {
      c.close();
    }
  });
});

describe('penalties', () => {
  test('time adds up per kind, becomes refusal at min, is capped at max, runs out, and can be cleared', () => {
    let now = 1_000_000;
    const { log, lines } = capture();
    const p = new Penalties(() => SETTINGS, log, () => now);
    p.record('192.0.2.1', 'authfail');
    p.record('192.0.2.1', 'authfail');
    assert.equal(p.check('192.0.2.1'), undefined); // 10 s < min
    p.record('::ffff:192.0.2.1', 'authfail');
    assert.equal(p.check('192.0.2.1')?.source, '192.0.2.1/32');
    assert.equal(p.check('192.0.2.2'), undefined);
    assert.equal(lines.filter((l) => l.event === 'penalty.active').length, 1);
    for (let i = 0; i < 500; i++) p.record('192.0.2.1', 'grace_exceeded');
    assert.equal(p.check('192.0.2.1')!.until, now + 600_000);
    now += 600_001;
    assert.equal(p.check('192.0.2.1'), undefined);
    p.record('2001:db8:5:6::1', 'grace_exceeded');
    p.record('2001:db8:5:6::2', 'grace_exceeded');
    assert.equal(p.check('2001:db8:5:6::99')?.source, '2001:db8:5:6:0:0:0:0/64');
    assert.deepEqual(p.clear('2001:db8:5:6::7'), ['2001:db8:5:6:0:0:0:0/64']);
    assert.equal(p.check('2001:db8:5:6::1'), undefined);
  });

  test('exempt sources earn nothing; the table is bounded', () => {
    const { log, lines } = capture();
    const p = new Penalties(() => SETTINGS, log);
    for (let i = 0; i < 5; i++) { p.record('10.9.8.7', 'grace_exceeded'); p.record('2001:db8:ffff::1', 'grace_exceeded'); }
    assert.equal(p.list().length, 0);
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) p.record(ip, 'noauth');
    assert.equal(p.list().length, 3);
    assert.equal(lines.filter((l) => l.event === 'penalty.overflow').length, 1);
  });
});

describe('config keys', () => {
  const base = 'listen: ["127.0.0.1:2222"]\npolicies:\n  - name: p\n    target: { host: h }\n    target_auth: { method: password }\n';
  test('safe defaults', () => {
    const c = parseConfig(base, '/x/config.yaml');
    assert.deepEqual({ ...c.admission }, { start: 100, rate: 30, full: 200, perSource: 50, perNetwork: 100, v4Prefix: 24, v6Prefix: 64, maxAuthTries: 6, authFailureDelayMs: 1000 });
    assert.equal(c.penalties.enabled, true);
    assert.equal(c.penalties.minMs, 15_000);
    assert.equal(parseConfig(`${base}limits: { max_startups: "10:30:60", per_source: 5 }\n`, '/x/config.yaml').admission.full, 60);
  });
  test('errors name the line and key', () => {
    const bad = (text: string): string => {
      try {
        parseConfig(text, '/x/config.yaml');
      } catch (err) {
        assert.ok(err instanceof BastionError);
        return err.message;
      }
      throw new Error('accepted');
    };
    assert.match(bad(`${base}limits:\n  max_startups: "30:30:10"\n`), /config\.yaml:7: limits\.max_startups: .*start <= full/);
    assert.match(bad(`${base}penalties:\n  exempt: [10.0.0.0/99]\n`), /config\.yaml:7: penalties\.exempt: .*prefix/);
    assert.match(bad(`${base}limits:\n  max_startups: "100"\n`), /config\.yaml:7: limits\.max_startups: .*start:rate:full/);
    // The older key caps full (and start).
    const old = parseConfig(`${base}limits: { max_unauthenticated: 2 }\n`, '/x/config.yaml').admission;
    assert.deepEqual([old.start, old.rate, old.full], [2, 30, 2]);
  });
});
