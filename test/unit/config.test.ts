import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfigFile, parseConfig, type Config } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { addressAllowed, nameAllowed, portAllowed } from '../../src/target/target-rules.js';
import { ROOT } from '../helpers/paths.js';

const FILE = '/etc/gatehouse/config.yaml';

const POLICY = `policies:
  - name: prod
    aa_plugin:
      name: demo_token
    targets:
      allow:
        - hosts: ["*.prod.example.com", 10.0.0.0/8, db01]
          ports: [22, 2200-2299]
    target_auth:
      method: key
`;

function fails(text: string): string {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof BastionError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail('config should have been refused');
}

describe('config.yaml', () => {
  test('the shipped config.yaml is valid', () => {
    const c = loadConfigFile(join(ROOT, 'config.yaml'));
    assert.deepEqual(c.listen, [{ host: '0.0.0.0', port: 2222 }]);
    assert.equal(c.policies[0]!.name, 'demo');
    assert.ok(c.demoTarget);
  });

  test('defaults: proxy timeout 600 s, plugin timeout half of it; paths relative to the file', () => {
    const c: Config = parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}`, FILE);
    assert.equal(c.timeouts.proxyMs, 600_000);
    assert.equal(c.timeouts.pluginMs, 300_000);
    assert.equal(c.keysDir, '/etc/gatehouse/keys');
    assert.equal(c.pluginsDir, '/etc/gatehouse/plugins');
    const p = c.policies[0]!;
    assert.equal(p.targetAuth.method === 'key' && p.targetAuth.keyFile, '/etc/gatehouse/keys/client_ed25519');
    assert.equal(p.hostKeyCheck.policy, 'strict');
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.policies[0]));
  });

  test('a changed proxy timeout changes the plugin timeout', () => {
    const c = parseConfig(`listen: ["127.0.0.1:0"]\ntimeouts:\n  proxy: 10\n${POLICY}`, FILE);
    assert.equal(c.timeouts.pluginMs, 5_000);
  });

  test('errors name the file, the line and the key path', () => {
    const msg = fails(`listen: ["0.0.0.0:2222"]\ntimeouts:\n  proxy: "soon"\n${POLICY}`);
    assert.match(msg, /\/etc\/gatehouse\/config\.yaml:3: timeouts\.proxy: must be a number/);
  });

  test('unknown keys are errors, with the allowed keys listed', () => {
    const msg = fails(`listen: ["0.0.0.0:2222"]\nlisten_port: 22\n${POLICY.replace('method: key', 'method: key\n      keyfile: x')}`);
    assert.match(msg, /config\.yaml:2: listen_port: unknown key "listen_port"/);
    assert.match(msg, /config\.yaml:13: policies\.0\.target_auth\.keyfile: unknown key "keyfile" \(allowed: method, key\)/);
  });

  test('every error is reported at once', () => {
    const msg = fails('listen: ["nope"]\nlog_level: loud\npolicies: []\n');
    assert.match(msg, /:1: listen\.0: "nope" is not host:port/);
    assert.match(msg, /:2: log_level: must be one of/);
    assert.match(msg, /:3: policies: must have at least 1 entry/);
  });

  test('gc: throughput by default, latency on request, anything else refused with file, line and key', () => {
    assert.equal(parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}`, FILE).gc, 'throughput');
    assert.equal(parseConfig(`listen: ["0.0.0.0:2222"]\ngc: latency\n${POLICY}`, FILE).gc, 'latency');
    assert.match(fails(`listen: ["0.0.0.0:2222"]\ngc: fast\n${POLICY}`), /config\.yaml:2: gc: must be one of "throughput", "latency"/);
  });

  test('alive checks: clients every 30 s, targets every 15 s, 3 unanswered end the session; 0 turns them off; nonsense refused', () => {
    const base = `listen: ["0.0.0.0:2222"]\n`;
    const ssh = parseConfig(`${base}${POLICY}`, FILE).ssh;
    assert.equal(ssh.clientAliveIntervalMs, 30_000);
    assert.equal(ssh.clientAliveCountMax, 3);
    assert.equal(ssh.targetAliveIntervalMs, 15_000);
    assert.equal(ssh.targetAliveCountMax, 3);
    const set = parseConfig(`${base}ssh:\n  client_alive_interval: 0.5\n  client_alive_count_max: 5\n${POLICY}`, FILE).ssh;
    assert.equal(set.clientAliveIntervalMs, 500);
    assert.equal(set.clientAliveCountMax, 5);
    assert.equal(parseConfig(`${base}ssh:\n  client_alive_interval: 0\n${POLICY}`, FILE).ssh.clientAliveIntervalMs, 0);
    assert.match(fails(`${base}ssh:\n  client_alive_interval: -1\n${POLICY}`), /config\.yaml:3: ssh\.client_alive_interval:/);
    assert.match(fails(`${base}ssh:\n  client_alive_count_max: 0\n${POLICY}`), /config\.yaml:3: ssh\.client_alive_count_max:/);
    assert.match(fails(`${base}ssh:\n  client_alive_count_max: 2.5\n${POLICY}`), /ssh\.client_alive_count_max: must be a whole number/);
    assert.match(fails(`${base}ssh:\n  target_alive_interval: soon\n${POLICY}`), /config\.yaml:3: ssh\.target_alive_interval:/);
  });

  test('allow_tcp_forwarding and allow_streamlocal_forwarding: true, false, local or remote, as in OpenSSH', () => {
    const rule = (v: string | undefined) => parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}${v === undefined ? '' : `    allow_tcp_forwarding: ${v}\n`}`, FILE).policies[0]!.tcpForwarding;
    assert.deepEqual(rule(undefined), { local: true, remote: true });
    assert.deepEqual(rule('true'), { local: true, remote: true });
    assert.deepEqual(rule('false'), { local: false, remote: false });
    assert.deepEqual(rule('local'), { local: true, remote: false });
    assert.deepEqual(rule('remote'), { local: false, remote: true });
    assert.match(fails(`listen: ["0.0.0.0:2222"]\n${POLICY}    allow_tcp_forwarding: sideways\n`),
      /config\.yaml:12: policies\.0\.allow_tcp_forwarding: must be true, false or one of "local", "remote", not string "sideways"/);
    const policy = (lines: string) => parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}${lines}`, FILE).policies[0]!;
    const unix = policy('    allow_streamlocal_forwarding: remote\n');
    assert.deepEqual([unix.streamLocalForwarding, unix.tcpForwarding], [{ local: false, remote: true }, { local: true, remote: true }]);
    // Unset, Unix sockets follow the TCP rule, so shutting TCP forwarding shuts both.
    assert.deepEqual(policy('    allow_tcp_forwarding: false\n').streamLocalForwarding, { local: false, remote: false });
    assert.deepEqual(policy('    allow_tcp_forwarding: local\n').streamLocalForwarding, { local: true, remote: false });
  });

  test('idle_timeout: off by default, in seconds per policy, negative refused', () => {
    const base = `listen: ["0.0.0.0:2222"]\n`;
    assert.equal(parseConfig(`${base}${POLICY}`, FILE).policies[0]!.idleTimeoutMs, 0);
    assert.equal(parseConfig(`${base}${POLICY}    idle_timeout: 7200\n`, FILE).policies[0]!.idleTimeoutMs, 7_200_000);
    assert.match(fails(`${base}${POLICY}    idle_timeout: -5\n`), /policies\.0\.idle_timeout:/);
  });

  test('record_sessions: off by default; recordings in state_dir/recordings unless recordings_dir says otherwise', () => {
    const base = `listen: ["0.0.0.0:2222"]\n`;
    const plain = parseConfig(`${base}${POLICY}`, FILE);
    assert.equal(plain.policies[0]!.recordSessions, false);
    assert.equal(plain.recordingsDir, '/etc/gatehouse/data/recordings');
    const on = parseConfig(`${base}recordings_dir: /var/lib/gatehouse/casts\n${POLICY}    record_sessions: true\n`, FILE);
    assert.equal(on.policies[0]!.recordSessions, true);
    assert.equal(on.recordingsDir, '/var/lib/gatehouse/casts');
    assert.match(fails(`${base}${POLICY}    record_sessions: sometimes\n`), /policies\.0\.record_sessions:/);
  });

  test('allow_agent_forwarding and allow_x11_forwarding: off unless a policy turns them on', () => {
    for (const [key, field] of [['allow_agent_forwarding', 'agentForwarding'], ['allow_x11_forwarding', 'x11Forwarding']] as const) {
      const allowed = (v: string | undefined) => parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}${v === undefined ? '' : `    ${key}: ${v}\n`}`, FILE).policies[0]![field];
      assert.equal(allowed(undefined), false);
      assert.equal(allowed('true'), true);
      assert.match(fails(`listen: ["0.0.0.0:2222"]\n${POLICY}    ${key}: "yes"\n`),
        new RegExp(`config\\.yaml:12: policies\\.0\\.${key}: must be true or false, not string "yes"`));
    }
  });

  test('YAML syntax errors give the line', () => {
    assert.match(fails('listen: ["0.0.0.0:2222"\npolicies: x\n'), /config\.yaml:\d+: YAML syntax error/);
  });

  test('a policy needs target or targets, not both', () => {
    assert.match(fails(`listen: ["0.0.0.0:2222"]\npolicies:\n  - name: a\n    aa_plugin: {name: p}\n    target_auth: {method: key}\n`), /policies\.0\.targets: a policy needs "target"/);
    assert.match(fails(`listen: ["0.0.0.0:2222"]\npolicies:\n  - name: a\n    aa_plugin: {name: p}\n    target: {host: h}\n    targets: {allow: [{hosts: [h]}]}\n    target_auth: {method: key}\n`), /not both/);
  });

  test('fail closed: Gatehouse\'s own key without an AA plugin is refused', () => {
    assert.match(fails(`listen: ["0.0.0.0:2222"]\npolicies:\n  - name: a\n    target: {host: h}\n    target_auth: {method: key}\n`), /policies\.0\.aa_plugin: a policy whose target_auth method is "key" needs an aa_plugin/);
    assert.ok(parseConfig(`listen: ["0.0.0.0:2222"]\npolicies:\n  - name: a\n    target: {host: h}\n    target_auth: {method: password}\n`, FILE));
  });

  test('allow-list entries: a bare "*", address globs and malformed CIDRs are refused', () => {
    assert.match(fails(POLICY.replace('"*.prod.example.com", ', '"*", ').replace(/^/, 'listen: ["0.0.0.0:2222"]\n')), /"\*" is not a host name pattern/);
    assert.match(fails(POLICY.replace('"*.prod.example.com", ', '"10.0.0.*", ').replace(/^/, 'listen: ["0.0.0.0:2222"]\n')), /use a CIDR block/);
    assert.match(fails(POLICY.replace('10.0.0.0/8', '10.0.0.0/33').replace(/^/, 'listen: ["0.0.0.0:2222"]\n')), /not a CIDR block/);
  });

  test('duplicate policy names and bad algorithm names', () => {
    const twice = `listen: ["0.0.0.0:2222"]\n${POLICY}${POLICY.replace('policies:\n', '')}`;
    assert.match(fails(twice), /duplicate policy name "prod"/);
    assert.match(fails(`listen: ["0.0.0.0:2222"]\nssh:\n  ciphers: [rot13]\n${POLICY}`), /ssh\.ciphers\.0: "rot13" is not valid: supported:/);
  });

  test('allow rules match names, patterns, CIDR blocks and port ranges', () => {
    const c = parseConfig(`listen: ["0.0.0.0:2222"]\n${POLICY}`, FILE);
    const t = c.policies[0]!.target;
    assert.equal(t.kind, 'inband');
    const rule = t.kind === 'inband' ? t.rules[0]! : assert.fail();
    assert.ok(nameAllowed(rule, 'web1.prod.example.com'));
    assert.ok(nameAllowed(rule, 'DB01'));
    assert.ok(!nameAllowed(rule, 'prod.example.com.evil.org'));
    // * stays within one DNS label.
    assert.ok(!nameAllowed(rule, 'a.b.prod.example.com'));
    assert.ok(addressAllowed(rule, '10.1.2.3'));
    assert.ok(!addressAllowed(rule, '11.1.2.3'));
    assert.ok(portAllowed(rule, 22) && portAllowed(rule, 2250) && !portAllowed(rule, 2300));
  });
});
