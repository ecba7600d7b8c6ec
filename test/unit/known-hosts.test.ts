import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { checkHostKey, knownKeyTypes, parseKnownHosts } from '../../src/ssh2x/known-hosts.js';

const blob = (type: string, fill: number): Buffer => {
  const t = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(t.length);
  return Buffer.concat([head, t, Buffer.alloc(32, fill)]);
};
const ED_A = blob('ssh-ed25519', 1);
const ED_B = blob('ssh-ed25519', 2);
const RSA = blob('ssh-rsa', 3);
const line = (host: string, key: Buffer, type = 'ssh-ed25519') => `${host} ${type} ${key.toString('base64')}`;
const hashed = (name: string): string => {
  const salt = Buffer.alloc(20, 7);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('known_hosts', () => {
  const text = [
    '# comment',
    line('db01,10.0.0.5', ED_A),
    line('[db02]:2200', ED_A),
    line(hashed('[db03]:2222'), ED_A),
    line('*.prod.example.com,!bad.prod.example.com', ED_A),
    `@revoked ${line('db04', ED_B)}`,
    line('db04', ED_A),
    line('db05', RSA, 'ssh-rsa'),
  ].join('\n');
  const lines = parseKnownHosts(text);

  test('plain names and addresses on port 22', () => {
    assert.equal(checkHostKey(lines, ['db01'], 22, ED_A), 'ok');
    assert.equal(checkHostKey(lines, ['somename', '10.0.0.5'], 22, ED_A), 'ok');
    assert.equal(checkHostKey(lines, ['db01'], 22, ED_B), 'mismatch');
  });
  test('[host]:port entries apply to that port only', () => {
    assert.equal(checkHostKey(lines, ['db02'], 2200, ED_A), 'ok');
    assert.equal(checkHostKey(lines, ['db02'], 22, ED_A), 'unknown');
    assert.equal(checkHostKey(lines, ['db01'], 2200, ED_A), 'unknown');
  });
  test('hashed host names', () => {
    assert.equal(checkHostKey(lines, ['db03'], 2222, ED_A), 'ok');
    assert.equal(checkHostKey(lines, ['db03'], 2222, ED_B), 'mismatch');
  });
  test('wildcards and negation', () => {
    assert.equal(checkHostKey(lines, ['web.prod.example.com'], 22, ED_A), 'ok');
    assert.equal(checkHostKey(lines, ['bad.prod.example.com'], 22, ED_A), 'unknown');
  });
  test('@revoked keys are refused even when also listed as trusted', () => {
    assert.equal(checkHostKey(lines, ['db04'], 22, ED_B), 'revoked');
    assert.equal(checkHostKey(lines, ['db04'], 22, ED_A), 'ok');
  });
  test('a key of another type than the one on record is a mismatch; known types are reported', () => {
    assert.equal(checkHostKey(lines, ['db05'], 22, ED_A), 'mismatch');
    assert.deepEqual(knownKeyTypes(lines, ['db05'], 22), ['ssh-rsa']);
    assert.deepEqual(knownKeyTypes(lines, ['nowhere'], 22), []);
  });
});
