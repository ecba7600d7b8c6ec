import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { closedPort } from '../helpers/device-login.js';
import { ROOT } from '../helpers/paths.js';
import type { SigningKey } from '../helpers/logout-tokens.js';

// The oidc plugin's device flow against a scripted provider on loopback, for what a real provider does not
// do on demand: slow_down, an expired code, a bad ID token, a poll that outlasts its budget.

type Hook = (args: { cookie: Record<string, unknown> }) => Promise<Record<string, unknown>>;

interface Scripted {
  issuer: string;
  /** What the token endpoint answers, in order: an error code, or 'ok' for tokens. */
  answers: string[];
  /** Times of the device authorization and of each token request, and their Authorization headers. */
  calls: { what: string; at: number; auth: string | undefined }[];
  idTokenClaims: Record<string, unknown>;
  /** Where discovery says the keys are (default: this server). */
  jwksUri?: string;
}

describe('oidc plugin: device flow edge cases against a scripted provider', () => {
  let server: Server;
  let key: SigningKey;
  const s: Scripted = { issuer: '', answers: [], calls: [], idTokenClaims: {} };
  let Plugin: new (configuration: string) => { authenticate: Hook };
  const config = (more = '') => `[oidc]\nissuer = ${s.issuer}\nclient_id = gh\nclient_secret = s3cret pass\n${more}`;

  before(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey as SigningKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' };
    server = createServer((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url === '/.well-known/openid-configuration') {
        return json(200, { issuer: s.issuer, device_authorization_endpoint: `${s.issuer}/device/auth`, token_endpoint: `${s.issuer}/token`, jwks_uri: s.jwksUri ?? `${s.issuer}/jwks` });
      }
      if (req.url === '/jwks') return json(200, { keys: [jwk] });
      s.calls.push({ what: req.url!, at: Date.now(), auth: req.headers.authorization });
      if (req.url === '/device/auth') {
        return json(200, { device_code: 'dc-1', user_code: 'ABCD-EFGH', verification_uri: `${s.issuer}/device`, expires_in: 600, interval: 1 });
      }
      const answer = s.answers.shift() ?? 'authorization_pending';
      if (answer !== 'ok') return json(400, { error: answer });
      const now = Math.floor(Date.now() / 1000);
      void new SignJWT({ iss: s.issuer, aud: 'gh', sub: 'u-1', iat: now, exp: now + 60, preferred_username: 'alice', groups: 'ops', ...s.idTokenClaims })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key).then((id_token) => json(200, { access_token: 'at', token_type: 'Bearer', id_token }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    s.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const modulePath = pathToFileURL(join(ROOT, 'plugins', 'oidc', 'main.js')).href;
    ({ Plugin } = await import(modulePath));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const begin = async (configuration: string) => {
    s.calls = [];
    const plugin = new Plugin(configuration);
    const first = await plugin.authenticate({ cookie: {} });
    assert.equal(first['verdict'], 'NEEDINFO');
    assert.deepEqual(first['question'], ['oidc_continue', `Open ${s.issuer}/device and enter code ABCD-EFGH, then press Enter: `, false]);
    return { plugin, cookie: first['cookie'] as Record<string, unknown> };
  };

  test('interval and slow_down are honoured; client_secret_basic; user and groups from the claims', async () => {
    const { plugin, cookie } = await begin(config());
    s.answers = ['slow_down', 'ok'];
    const r = await plugin.authenticate({ cookie });
    assert.equal(r['verdict'], 'ACCEPT', JSON.stringify(r));
    assert.equal(r['gateway_user'], 'alice');
    assert.deepEqual(r['gateway_groups'], ['ops']); // one string becomes a list of one
    assert.deepEqual(r['identity'], { issuer: s.issuer, subject: 'u-1', sid: null });
    const [auth, poll1, poll2] = s.calls;
    assert.ok(poll1!.at - auth!.at >= 1000, `first poll ${poll1!.at - auth!.at} ms after the code, interval is 1 s`);
    assert.ok(poll2!.at - poll1!.at >= 6000, `after slow_down ${poll2!.at - poll1!.at} ms, expected 1 + 5 s`);
    assert.equal(poll1!.auth, `Basic ${Buffer.from('gh:s3cret+pass').toString('base64')}`);
  });

  test('a code that expires gives a plain message', async () => {
    const { plugin, cookie } = await begin(config());
    s.answers = ['expired_token'];
    const r = await plugin.authenticate({ cookie });
    assert.deepEqual([r['verdict'], r['reason']], ['DENY', 'The sign-in code expired before it was approved; please connect again.']);
  });

  test('not approved within poll_timeout: asked again, with the code kept', async () => {
    const { plugin, cookie } = await begin(config('poll_timeout = 2'));
    s.answers = [];
    const r = await plugin.authenticate({ cookie });
    assert.equal(r['verdict'], 'NEEDINFO');
    assert.match((r['question'] as string[])[1]!, /^Not approved yet\. Open .* enter code ABCD-EFGH/);
    assert.equal((r['cookie'] as { oidc: { device_code: string } }).oidc.device_code, 'dc-1');
  });

  test('an ID token for another audience or from another issuer is refused', async () => {
    for (const claims of [{ aud: 'someone-else' }, { iss: 'https://evil.example' }]) {
      const { plugin, cookie } = await begin(config());
      s.answers = ['ok'];
      s.idTokenClaims = claims;
      const r = await plugin.authenticate({ cookie });
      s.idTokenClaims = {};
      assert.deepEqual([r['verdict'], r['reason']], ['DENY', 'Sign-in failed: the answer of the identity provider could not be verified.'], JSON.stringify(claims));
    }
  });

  test('keys that cannot be fetched: the provider is down, not the token bad', async () => {
    s.jwksUri = `http://127.0.0.1:${await closedPort()}/jwks`;
    const { plugin, cookie } = await begin(config());
    s.answers = ['ok'];
    const r = await plugin.authenticate({ cookie }).finally(() => { delete s.jwksUri; });
    assert.deepEqual([r['verdict'], r['reason']], ['DENY', 'The sign-in service cannot be reached right now; please try again later.']);
  });

  test('the secret from an environment variable that is not set is a configuration error', async () => {
    const plugin = new Plugin(`[oidc]\nissuer = ${s.issuer}\nclient_id = gh\nclient_secret_env = GH_TEST_NOT_SET_ANYWHERE`);
    await assert.rejects(plugin.authenticate({ cookie: {} }), /GH_TEST_NOT_SET_ANYWHERE \(client_secret_env\) is not set/);
  });
});
