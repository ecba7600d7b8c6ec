import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';

// config.yaml identity_logout: off by default; every mistake named with file, line and key.

const FILE = '/etc/gatehouse/config.yaml';
const POLICY = `policies:
  - name: prod
    aa_plugin:
      name: oidc
    target:
      host: db01
    target_auth:
      method: key
`;

function fails(text: string): string {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof BastionError);
    return err.message;
  }
  throw new Error('expected a configuration error');
}

describe('identity_logout configuration', () => {
  test('off unless configured; defaults for path, token age and replay cache', () => {
    assert.equal(parseConfig(`listen: ["127.0.0.1:2222"]\n${POLICY}`, FILE).identityLogout, undefined);
    const c = parseConfig(`listen: ["127.0.0.1:2222"]
identity_logout:
  listen: 127.0.0.1:8443
  providers:
    - issuer: https://login.example.com
      audience: gatehouse
${POLICY}`, FILE);
    assert.deepEqual(c.identityLogout, {
      listen: { host: '127.0.0.1', port: 8443 }, path: '/backchannel-logout', tls: undefined, maxTokenAgeMs: 300_000,
      replayCacheSize: 10_000, providers: [{ issuer: 'https://login.example.com', audience: 'gatehouse', jwksUri: undefined }],
    });
  });

  test('errors name the file, the line and the key', () => {
    const msg = fails(`listen: ["127.0.0.1:2222"]
identity_logout:
  listen: nowhere
  path: no-slash
  providers:
    - issuer: ftp://login.example.com
      audience: gatehouse
    - issuer: https://a.example
      audience: gatehouse
      jwks_uri: https://a.example/jwks
      jwks: x
${POLICY}`);
    assert.match(msg, /config\.yaml:3: identity_logout\.listen: "nowhere" is not host:port/);
    assert.match(msg, /config\.yaml:4: identity_logout\.path: /);
    assert.match(msg, /config\.yaml:6: identity_logout\.providers\.0\.issuer: "ftp:\/\/login\.example\.com" is not an http\(s\) URL/);
    assert.match(msg, /config\.yaml:11: identity_logout\.providers\.1\.jwks: unknown key "jwks"/);
  });

  test('TLS files that cannot be read', () => {
    assert.match(fails(`listen: ["127.0.0.1:2222"]
identity_logout:
  listen: 127.0.0.1:8443
  tls:
    cert: /nonexistent/cert.pem
    key: /nonexistent/key.pem
  providers:
    - {issuer: "https://a.example", audience: g}
${POLICY}`), /config\.yaml:5: identity_logout\.tls\.cert: cannot read \/nonexistent\/cert\.pem: ENOENT/);
  });

  test('a provider listed twice and an empty provider list are refused', () => {
    assert.match(fails(`listen: ["127.0.0.1:2222"]
identity_logout:
  listen: 127.0.0.1:8443
  providers:
    - {issuer: "https://a.example", audience: g}
    - {issuer: "https://a.example", audience: h}
${POLICY}`), /config\.yaml:6: identity_logout\.providers\.1\.issuer: issuer https:\/\/a\.example is listed twice/);
    assert.match(fails(`listen: ["127.0.0.1:2222"]\nidentity_logout:\n  listen: 127.0.0.1:8443\n  providers: []\n${POLICY}`), /identity_logout\.providers/);
  });
});
