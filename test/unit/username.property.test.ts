import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseUsername } from '../../src/target/username.js';

// Nothing secret from malformed input (issue 15): whatever the client sends as its user name, parseUsername
// never throws, and the value of a key=value pair never appears in the message (which is logged and shown) or
// in the user or server name (which are logged and recorded). 10,000 cases per property.

const RUNS = 10_000;

/** A secret: a marker no other generated piece contains, then anything but '@' (the SSH user name splits on it). */
const secret = fc.string({ unit: fc.constantFrom(...'abcXYZ019:%+/[]=._- !#'), minLength: 1, maxLength: 12 }).map((s) => `Q7SECRET${s}`);
const key = fc.constantFrom('otp', 'token', 'ticket_id', 'gu', 'a', '_x');
const piece = fc.oneof(
  fc.constantFrom('', 'root', 'reluser', 'db01', 'db01:22', '[fd00::1]', '[fd00::1]:2200', '10.0.0.5', 'x%y', 'a.b', '::1', ':', '[', ']', '%'),
  fc.string({ unit: fc.constantFrom(...'rotdb01:%+/[].-_ '), maxLength: 10 }),
);

/** A user name with one or more secret pairs placed anywhere: first (well-formed) or after other pieces. */
const nameWithSecrets = fc.tuple(fc.array(piece, { maxLength: 5 }), fc.array(fc.tuple(key, secret, fc.nat()), { minLength: 1, maxLength: 3 }), fc.array(fc.constantFrom('@', '@', '%'), { minLength: 8, maxLength: 8 }))
  .map(([pieces, pairs, seps]) => {
    const tokens = [...pieces];
    for (const [k, v, at] of pairs) tokens.splice(at % (tokens.length + 1), 0, `${k}=${v}`);
    return { raw: tokens.reduce((acc, t, i) => (i === 0 ? t : `${acc}${seps[i - 1]}${t}`), ''), secrets: pairs.map(([, v]) => v) };
  });

describe('parseUsername: property-based (fast-check)', () => {
  test('never throws, on any string', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }),
      fc.string({ unit: fc.constantFrom(...'a=@%:+/[]1.'), maxLength: 60 })), (raw) => {
      const r = parseUsername(raw);
      if (!r.ok) assert.ok(r.message.length <= 300, r.message);
    }), { numRuns: RUNS });
  });

  test('a pair value never appears in a message, the server user or the target', () => {
    fc.assert(fc.property(nameWithSecrets, ({ raw, secrets }) => {
      const r = parseUsername(raw);
      const visible = r.ok ? [r.request.serverUser, r.request.target?.host ?? '', String(r.request.target?.port ?? '')] : [r.message];
      for (const s of secrets) {
        for (const v of visible) assert.ok(!v.includes(s) && !v.includes('Q7SECRET'), `${JSON.stringify(raw)} leaked into ${JSON.stringify(v)}`);
      }
      if (r.ok) assert.ok(!r.request.serverUser.includes('='), `a user name with "=" passed: ${JSON.stringify(r.request.serverUser)}`);
    }), { numRuns: RUNS });
  });

  test('the cases from the issue', () => {
    for (const raw of ['reluser@otp=SECRET@db01', '@otp=SECRET@db01', 'root@db01:otp=SECRET', 'root%otp=SECRET', 'root@otp=SECRET@']) {
      const r = parseUsername(raw);
      assert.equal(r.ok, false, raw);
      if (!r.ok) assert.doesNotMatch(r.message, /SECRET/);
    }
    const long = parseUsername(`root@${'x'.repeat(1000)}:99999`);
    assert.ok(!long.ok && long.message.length < 300);
  });
});
