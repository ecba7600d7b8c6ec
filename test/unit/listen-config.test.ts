import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';

// listen entries with the PROXY protocol: the plain "host:port" form stays, a mapping adds the trusted load
// balancers; every mistake names file, line and key.

const FILE = '/etc/gatehouse/config.yaml';
const POLICY = `policies:
  - name: prod
    target: {host: 10.0.0.1}
    target_auth: {method: password}
`;

function fails(text: string): string {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof BastionError);
    return err.message;
  }
  assert.fail('config should have been refused');
}

test('listen: host:port and {address, proxy_protocol: {trusted, header_timeout}} side by side', () => {
  const c = parseConfig(`listen:
  - "0.0.0.0:2222"
  - address: "[::]:2223"
    proxy_protocol:
      trusted: [10.0.0.5, 192.168.0.0/16, "fd00::/8"]
      header_timeout: 2.5
  - address: "127.0.0.1:2224"
${POLICY}`, FILE);
  assert.deepEqual(c.listen, [
    { host: '0.0.0.0', port: 2222 },
    { host: '::', port: 2223, proxyProtocol: { trusted: ['10.0.0.5', '192.168.0.0/16', 'fd00::/8'], headerTimeoutMs: 2500 } },
    { host: '127.0.0.1', port: 2224 },
  ]);
  const d = parseConfig(`listen:\n  - address: "0.0.0.0:2222"\n    proxy_protocol: {trusted: [10.0.0.5]}\n${POLICY}`, FILE);
  assert.equal(d.listen[0]!.proxyProtocol?.headerTimeoutMs, 5000);
});

test('listen: bad trusted entries, missing trusted, unknown keys: file:line: key', () => {
  const msg = fails(`listen:
  - address: "0.0.0.0:2222"
    proxy_protocol:
      trusted: [10.0.0.5, 10.0.0.0/33, lb.example.com]
  - address: "0.0.0.0:2223"
    proxy_protocol: {}
  - adress: "0.0.0.0:2224"
${POLICY}`);
  assert.match(msg, /config\.yaml:4: listen\.0\.proxy_protocol\.trusted\.1: "10\.0\.0\.0\/33" has a prefix length above 32/);
  assert.match(msg, /config\.yaml:4: listen\.0\.proxy_protocol\.trusted\.2: "lb\.example\.com" is not an IP address or CIDR block/);
  assert.match(msg, /config\.yaml:6: listen\.1\.proxy_protocol\.trusted: is required/);
  assert.match(msg, /config\.yaml:7: listen\.2\.adress: unknown key "adress"/);
  assert.match(msg, /listen\.2\.address: is required/);
  assert.match(fails(`listen:\n  - address: "0.0.0.0:2222"\n    proxy_protocol: {trusted: []}\n${POLICY}`), /config\.yaml:3: listen\.0\.proxy_protocol\.trusted: must have at least 1 entry/);
});
