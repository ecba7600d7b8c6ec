import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LogoutTokenError, LogoutTokenVerifier, ReplayCache, type SharedReplay } from '../../src/identity/logout-token.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/logout-tokens.js';

// OpenID Connect Back-Channel Logout 1.0, section 2.6: every check a logout token must pass.

describe('logout token validation', () => {
  let op: TokenIssuer;
  let verifier: LogoutTokenVerifier;
  before(async () => {
    op = await startTokenIssuer('gatehouse');
    verifier = new LogoutTokenVerifier([{ issuer: op.issuer, audience: 'gatehouse', jwksUri: undefined }], 300_000, 1000);
  });
  after(async () => {
    await op.stop();
  });

  const refused = async (token: Promise<string> | string, why: RegExp): Promise<void> => {
    await assert.rejects(verifier.verify(await token), (err: unknown) => {
      assert.ok(err instanceof LogoutTokenError, String(err));
      assert.match(err.message, why);
      return true;
    });
  };

  test('a valid token with sid and sub, keys found through discovery', async () => {
    const c = await verifier.verify(await op.sign({ jti: 'j-valid-1' }));
    assert.deepEqual(c, { issuer: op.issuer, jti: 'j-valid-1', sid: 'sid-1', sub: 'alice' });
  });

  test('sub alone or sid alone is enough; neither is refused', async () => {
    assert.equal((await verifier.verify(await op.sign({ sid: undefined }))).sid, undefined);
    assert.equal((await verifier.verify(await op.sign({ sub: undefined }))).sub, undefined);
    await refused(op.sign({ sid: undefined, sub: undefined }), /neither sid nor sub/);
  });

  test('forged (signed by a key the issuer does not publish)', async () => {
    await refused(op.sign({}, { forged: true }), /signature/);
  });

  test('wrong audience, unknown issuer', async () => {
    await refused(op.sign({ aud: 'someone-else' }), /aud/);
    await refused(op.sign({ iss: 'https://evil.example' }), /issuer "https:\/\/evil.example" is not configured/);
  });

  test('expired, too old, from the future, no iat', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(op.sign({ iat: now - 1000, exp: now - 500 }), /expired|exp/);
    await refused(op.sign({ iat: now - 1000, exp: undefined }), /iat|too old|age/i);
    await refused(op.sign({ iat: now + 600 }), /iat/);
    await refused(op.sign({ iat: undefined }), /iat/);
  });

  test('the back-channel logout event must be there, as a JSON object', async () => {
    await refused(op.sign({ events: undefined }), /events/);
    await refused(op.sign({ events: { 'http://schemas.openid.net/event/other': {} } }), /no back-channel logout event/);
    await refused(op.sign({ events: { 'http://schemas.openid.net/event/backchannel-logout': 'yes' } }), /no back-channel logout event/);
  });

  test('a nonce is refused (an ID token is not a logout token)', async () => {
    await refused(op.sign({ nonce: 'n-1' }), /nonce/);
  });

  test('a jti is accepted once: the replay is refused', async () => {
    const token = await op.sign({ jti: 'j-replay-1' });
    await verifier.verify(token);
    await refused(token, /used before \(replay\)/);
    await refused(op.sign({ jti: undefined }), /jti/);
  });

  test('with a shared record (database.url), a token taken by one host is a replay on another; a failed record is not held against a retry', async () => {
    const taken = new Map<string, number>();
    let down = false;
    const shared: SharedReplay = {
      async remember(issuer, jti, expiresAt) {
        if (down) throw new Error('database unavailable');
        if (taken.has(`${issuer} ${jti}`)) return false;
        taken.set(`${issuer} ${jti}`, expiresAt);
        return true;
      },
    };
    const hostA = new LogoutTokenVerifier([{ issuer: op.issuer, audience: 'gatehouse', jwksUri: undefined }], 300_000, 1000, shared);
    const hostB = new LogoutTokenVerifier([{ issuer: op.issuer, audience: 'gatehouse', jwksUri: undefined }], 300_000, 1000, shared);
    const now = Date.now();
    const token = await op.sign({ jti: 'j-shared-1' });
    assert.equal((await hostA.verify(token, now)).jti, 'j-shared-1');
    // Kept while a token with that jti could still pass the age check (max age plus twice the clock skew).
    assert.equal(taken.get(`${op.issuer} j-shared-1`), now + 300_000 + 60_000);
    await assert.rejects(hostB.verify(token), /used before, on another Gatehouse host \(replay\)/);
    await assert.rejects(hostA.verify(token), /used before \(replay\)/);

    const retried = await op.sign({ jti: 'j-shared-2' });
    down = true;
    await assert.rejects(hostA.verify(retried), /database unavailable/);
    down = false;
    assert.equal((await hostA.verify(retried)).jti, 'j-shared-2');
  });

  test('not a JWT at all', async () => {
    await refused('hello', /not a JWT/);
  });
});

describe('replay cache', () => {
  test('forgets a jti only once its token is too old to pass, and refuses when full of live ones', () => {
    const c = new ReplayCache(2, 1000);
    assert.equal(c.remember('i', 'a', 0), true);
    assert.equal(c.remember('i', 'a', 500), false);
    assert.equal(c.remember('i', 'b', 600), true);
    assert.throws(() => c.remember('i', 'c', 700), /full/);
    assert.equal(c.remember('i', 'c', 1001), true); // "a" expired and was dropped
    assert.equal(c.size, 2);
    assert.throws(() => c.remember('other', 'b', 1002), /full/);
    assert.equal(c.remember('other', 'b', 1700), true); // a jti is per issuer
  });
});
