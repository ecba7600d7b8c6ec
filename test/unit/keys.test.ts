import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BastionError } from '../../src/errors.js';
import { ensureHostKeys, ensureKey, loadKey } from '../../src/ssh/keys.js';

describe('key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('missing host keys are generated: ed25519 and RSA, private parts mode 0600', () => {
    const keys = ensureHostKeys(join(dir, 'keys'));
    assert.deepEqual(keys.map((k) => k.type), ['ssh-ed25519', 'ssh-rsa']);
    for (const k of keys) {
      assert.equal(statSync(k.path).mode & 0o777, 0o600);
      assert.match(readFileSync(`${k.path}.pub`, 'utf8'), new RegExp(`^${k.type} `));
    }
    // A second start loads the same keys instead of replacing them.
    const again = ensureHostKeys(join(dir, 'keys'));
    assert.ok(again[0]!.publicBlob.equals(keys[0]!.publicBlob));
  });

  test('a private key readable by group or others is refused with the fix in the message', () => {
    const k = ensureKey(join(dir, 'client'), 'ed25519');
    chmodSync(k.path, 0o644);
    assert.throws(() => loadKey(k.path), (err: unknown) => {
      assert.ok(err instanceof BastionError);
      assert.equal(err.code, 'HOST_KEY_INSECURE');
      assert.match(err.message, /readable by group or others \(mode 0644\); run: chmod 600 /);
      return true;
    });
    chmodSync(k.path, 0o640);
    assert.throws(() => loadKey(k.path), /mode 0640/);
  });

  test('a file that is not a private key is refused', () => {
    const p = join(dir, 'junk');
    writeFileSync(p, 'not a key', { mode: 0o600 });
    assert.throws(() => loadKey(p), (err: unknown) => err instanceof BastionError && err.code === 'HOST_KEY_INVALID');
  });
});
