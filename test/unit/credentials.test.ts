import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { generateEd25519 } from '../../src/ssh2x/keygen.js';
import type { JsonValue } from '../../src/plugins/contract.js';
import { checkPasswordList, checkPrivateKeyList } from '../../src/plugins/credentials.js';

// spec 6.3, 11.17, 11.18: what a credential store may return.

const ed = generateEd25519('test').private;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;

describe('credential store results', () => {
  test('None and empty lists mean nothing found', () => {
    for (const raw of [null, {}, { passwords: [] }, { passwords: null }] as JsonValue[]) {
      const r = checkPasswordList(raw);
      assert.ok(r.ok && r.result.items.length === 0);
    }
    const k = checkPrivateKeyList(null);
    assert.ok(k.ok && k.result.items.length === 0);
  });
  test('passwords keep their order; entries that are not strings are skipped with a reason', () => {
    const r = checkPasswordList({ passwords: ['a', 5, '', 'b'], cookie: { n: 1 } });
    assert.ok(r.ok);
    if (r.ok) {
      assert.deepEqual(r.result.items, ['a', 'b']);
      assert.deepEqual(r.result.cookie, { n: 1 });
      assert.equal(r.result.skipped.length, 2);
    }
  });
  test('keys: order kept, the key decides its type (a mislabelled one is used), unusable or unsupported ones skipped', () => {
    const r = checkPrivateKeyList({
      private_keys: [['ssh-rsa', rsa], ['ssh-dss', '-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n'], ['ssh-rsa', ed], ['ssh-ed25519', 'garbage'], 'not a pair'],
    });
    assert.ok(r.ok);
    if (r.ok) {
      assert.deepEqual(r.result.items.map((k) => k.type), ['ssh-rsa', 'ssh-ed25519']);
      assert.match(r.result.skipped.join('\n'), /private_keys\[1\] has unsupported key type "ssh-dss"/);
      assert.match(r.result.skipped.join('\n'), /private_keys\[2\] is labelled ssh-rsa but is a ssh-ed25519 key; used as ssh-ed25519/);
      assert.match(r.result.skipped.join('\n'), /private_keys\[3\] \(ssh-ed25519\) is not a usable/);
      assert.match(r.result.skipped.join('\n'), /private_keys\[4\] is not a \[key_type, key\] pair/);
      // What is logged about keys never holds key material.
      assert.ok(!r.result.skipped.join('\n').includes('PRIVATE KEY'));
    }
  });
  test('a list that is not a list, or a result that is not a dict, is a plugin error', () => {
    assert.equal(checkPasswordList({ passwords: 'secret' }).ok, false);
    assert.equal(checkPrivateKeyList({ private_keys: {} }).ok, false);
    assert.equal(checkPasswordList(['a']).ok, false);
    assert.equal(checkPasswordList({ passwords: [], cookie: 'x' }).ok, false);
  });
});
