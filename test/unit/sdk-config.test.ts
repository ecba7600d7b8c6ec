import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';

// config.yaml `sdk:`: the host side of the SPS Plugin SDK (credential stores, user lists, LDAP servers, CA
// lists, proxy, RADIUS dictionary), validated as the rest of config.yaml and handed to Python plugins.

const POLICY = `policies:
  - name: p
    target: {host: 127.0.0.1}
    target_auth: {method: password}
`;

function refused(text: string, file: string): string {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof BastionError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail('config should have been refused');
}

describe('config.yaml sdk section', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sdk-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(join(dir, 'radius.secret'), 'shared\n');
  writeFileSync(join(dir, 'dictionary'), 'ATTRIBUTE User-Name 1 string\n');

  test('absent: an empty host context', () => {
    assert.deepEqual(parseConfig(`listen: ["127.0.0.1:0"]\n${POLICY}`, file).sdk, {});
  });

  test('every part, with secrets as references and relative paths made absolute', () => {
    process.env['GH_TEST_LDAP_PW'] = 'x';
    try {
      const c = parseConfig(`listen: ["127.0.0.1:0"]
sdk:
  credential_stores:
    local:
      - host: radius
        user: secret
        passwords: [{file: radius.secret}, inline-pw]
  user_lists:
    admins: {allow: no_user, except: [root]}
  ldap_servers:
    corp: {url: "ldap://127.0.0.1:389", base_dn: "dc=example,dc=com", bind_dn: "cn=admin,dc=example,dc=com", bind_password: {env: GH_TEST_LDAP_PW}, membership: posix}
  trusted_ca_lists:
    internal: [{file: radius.secret}]
  https_proxy: {server: proxy.example, username: u, password: p}
  radius_dictionary: dictionary
${POLICY}`, file);
      const sdk = c.sdk as Record<string, any>;
      assert.deepEqual(sdk['credential_stores'].local.credentials[0].passwords, [{ file: join(dir, 'radius.secret') }, { value: 'inline-pw' }]);
      assert.deepEqual(sdk['user_lists'], { admins: { allow: 'no_user', except: ['root'] } });
      assert.equal(sdk['ldap_servers'].corp.user_name_attribute, 'uid');
      assert.deepEqual(sdk['ldap_servers'].corp.bind_password, { env: 'GH_TEST_LDAP_PW' });
      assert.equal(sdk['https_proxy'].port, 3128);
      assert.equal(sdk['radius_dictionary'], join(dir, 'dictionary'));
      assert.ok(!JSON.stringify(sdk).includes('shared'), 'a secret file was read into the configuration');
    } finally {
      delete process.env['GH_TEST_LDAP_PW'];
    }
  });

  test('refused: missing secret file, unset variable', () => {
    const msg = refused(`listen: ["127.0.0.1:0"]
sdk:
  credential_stores:
    local:
      - {host: h, user: u, passwords: [{file: nope.txt}, {env: GH_TEST_SURELY_UNSET}]}
${POLICY}`, file);
    assert.match(msg, /:5: sdk\.credential_stores\.local\.0\.passwords\.0: secret file .*nope\.txt does not exist/);
    assert.match(msg, /passwords\.1: environment variable GH_TEST_SURELY_UNSET is not set/);
  });

  test('refused: bad reference, bad LDAP URL, unknown key', () => {
    const msg = refused(`listen: ["127.0.0.1:0"]
sdk:
  credential_stores:
    local:
      - {host: h, user: u, passwords: [{value: a, env: B}]}
  ldap_servers:
    corp: {url: "http://x", base_dn: "dc=x"}
  user_list: {}
${POLICY}`, file);
    assert.match(msg, /passwords\.0: must be a string, or a mapping with exactly one of/);
    assert.match(msg, /sdk\.ldap_servers\.corp\.url/);
    assert.match(msg, /unknown key "user_list"/);
  });

  test('cleanup', () => rmSync(dir, { recursive: true, force: true }));
});
