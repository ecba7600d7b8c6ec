import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseUsername, type LoginRequest } from '../../src/target/username.js';

// spec 7.1-7.4 and 11.19-11.21: every documented form, and malformed input.

function ok(raw: string): LoginRequest {
  const r = parseUsername(raw);
  assert.ok(r.ok, `${raw}: ${r.ok ? '' : r.message}`);
  return r.request;
}

function bad(raw: string, message: RegExp): void {
  const r = parseUsername(raw);
  assert.equal(r.ok, false, `${raw} should be refused`);
  if (!r.ok) assert.match(r.message, message);
}

describe('parseUsername: inband destination selection (spec 7.1)', () => {
  test('user@target', () => {
    const r = ok('root@10.0.0.5');
    assert.equal(r.serverUser, 'root');
    assert.deepEqual(r.target, { host: '10.0.0.5', port: undefined });
    assert.deepEqual(r.pairs, {});
  });
  test('user@target:port and the alternative port separators + and /', () => {
    for (const raw of ['root@db01:2200', 'root@db01+2200', 'root@db01/2200']) {
      const r = ok(raw);
      assert.equal(r.serverUser, 'root');
      assert.deepEqual(r.target, { host: 'db01', port: 2200 });
    }
  });
  test('% as the user/target separator: user%target+2222', () => {
    const r = ok('user%target+2222');
    assert.equal(r.serverUser, 'user');
    assert.deepEqual(r.target, { host: 'target', port: 2222 });
  });
  test('IPv6 targets in brackets, with and without a port', () => {
    assert.deepEqual(ok('root@[2001:db8::5]:2222').target, { host: '2001:db8::5', port: 2222 });
    assert.deepEqual(ok('root@[2001:db8::5]').target, { host: '2001:db8::5', port: undefined });
    assert.deepEqual(ok('root@[::1]+22').target, { host: '::1', port: 22 });
    assert.deepEqual(ok('root@::1').target, { host: '::1', port: undefined });
  });
  test('a user name alone means no inband target (a fixed-target policy decides)', () => {
    const r = ok('root');
    assert.equal(r.serverUser, 'root');
    assert.equal(r.target, undefined);
  });
  test('UPN users need an explicit target; the split is at the last @ (spec 11.19)', () => {
    const upn = ok('test@ema.il@target');
    assert.equal(upn.serverUser, 'test@ema.il');
    assert.equal(upn.target?.host, 'target');
    // Without a target the domain is read as the target, as SPS documents.
    const misread = ok('test@ema.il');
    assert.equal(misread.serverUser, 'test');
    assert.equal(misread.target?.host, 'ema.il');
  });
});

describe('parseUsername: key=value pairs and gu= (spec 7.2, 7.3)', () => {
  test('otp=123456@root@db01', () => {
    const r = ok('otp=123456@root@db01');
    assert.deepEqual(r.pairs, { otp: '123456' });
    assert.equal(r.serverUser, 'root');
    assert.equal(r.target?.host, 'db01');
  });
  test('otp=123456@root@db01:2200', () => {
    const r = ok('otp=123456@root@db01:2200');
    assert.deepEqual(r.target, { host: 'db01', port: 2200 });
  });
  test('several pairs, first "=" splits, later duplicates win (spec 11.21)', () => {
    const r = ok('a=1@b=x=y@a=2@user@host');
    assert.deepEqual(r.pairs, { a: '2', b: 'x=y' });
    assert.equal(r.serverUser, 'user');
  });
  test('documented examples: token_id, ticket_id, y_ prefixed OTP, empty value (push)', () => {
    assert.deepEqual(ok('token_id=12345@user@server').pairs, { token_id: '12345' });
    assert.deepEqual(ok('ticket_id=INC0001@user@server').pairs, { ticket_id: 'INC0001' });
    assert.deepEqual(ok('otp=y_cccjgjgkhcbb@root@server').pairs, { otp: 'y_cccjgjgkhcbb' });
    assert.deepEqual(ok('otp=@root@server').pairs, { otp: '' });
  });
  test('pairs before a user without a target', () => {
    const r = ok('otp=1@root');
    assert.deepEqual(r.pairs, { otp: '1' });
    assert.equal(r.serverUser, 'root');
    assert.equal(r.target, undefined);
  });
  test('gu=alice@root@db01: the inband gateway user reaches plugins as a pair', () => {
    const r = ok('gu=alice@root@db01');
    assert.deepEqual(r.pairs, { gu: 'alice' });
    assert.equal(r.serverUser, 'root');
    assert.equal(r.target?.host, 'db01');
  });
  test('pairs combined with % and an IPv6 target', () => {
    const r = ok('otp=9@root%[fd00::1]:2200');
    assert.deepEqual(r.pairs, { otp: '9' });
    assert.equal(r.serverUser, 'root');
    assert.deepEqual(r.target, { host: 'fd00::1', port: 2200 });
  });
  test('pairs never leave key_value_pairs (spec 11.26): a "target_server=x" pair is only a pair', () => {
    const r = ok('target_server=evil@root@db01');
    assert.equal(r.target?.host, 'db01');
    assert.deepEqual(r.pairs, { target_server: 'evil' });
  });
});

describe('parseUsername: malformed input gets a clear message, never an exception', () => {
  test('empty, pairs only, empty user or target', () => {
    bad('', /Empty user name/);
    bad('otp=1', /No user name/);
    bad('a=1@b=2', /No user name/);
    bad('@db01', /No user name/);
    bad('root@', /No server named/);
    bad('root%', /No server named/);
    bad('root@@db01', /Invalid user name/);
  });
  test('bad ports', () => {
    bad('root@db01:99999', /Invalid port "99999"/);
    bad('root@db01:0', /Invalid port "0"/);
    bad('root@db01:abc', /Invalid port "abc"/);
    bad('root@db01:', /Invalid port ""/);
  });
  test('bad hosts and brackets', () => {
    bad('root@[2001:db8::5', /Missing "]"/);
    bad('root@[db01]:22', /not an IPv6 address/);
    bad('root@[::1]x22', /Unexpected "x22"/);
    bad('root@bad host', /Invalid server name/);
    bad('root@-db01', /Invalid server name/);
    bad('root@:22', /No server name/);
  });
  test('control characters and absurd lengths', () => {
    bad('root\n@db01', /control characters/);
    bad(`${'a'.repeat(3000)}@db01`, /longer than/);
  });
  test('random input never throws', () => {
    const alphabet = 'ab@%:+/[]=.1 \u00e9-_';
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let j = 0; j < 1 + (i % 17); j++) s += alphabet[(i * 7 + j * 13 + j * j) % alphabet.length];
      assert.doesNotThrow(() => parseUsername(s));
    }
  });
});
