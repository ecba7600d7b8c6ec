import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair } from 'jose';
import { deviceLogin, oidcConfiguration, oidcPolicy, type DeviceLogin } from '../helpers/device-login.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { postLogoutToken, signLogoutToken, type SigningKey } from '../helpers/logout-tokens.js';
import { listenTestProvider, PROVIDER_KID, type TestProvider } from '../helpers/oidc-provider.js';
import { CLI } from '../helpers/paths.js';
import type { PluginIdentity } from '../../src/plugins/verdict.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { endedRow } from '../helpers/session-db.js';

// Logout at the identity provider ends the SSH session: two people log in through the device flow; the
// provider signs one of them out and sends Gatehouse an OpenID Connect back-channel logout token, and that
// person's SSH session ends within a second, while the other's stays up. Tokens that fail any check end nothing.

const PATH = '/backchannel-logout';

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface LoggedIn {
  readonly login: DeviceLogin;
  readonly sid: string;
  /** The provider identity Gatehouse bound the session to. */
  readonly identity: PluginIdentity;
  /** When the ssh client exited. */
  readonly exited: Promise<number>;
}

describe('back-channel logout: the provider ends the sign-in session, Gatehouse ends the SSH session', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let op: TestProvider;
  let url = '';
  let alice: LoggedIn;
  let carol: LoggedIn;

  const logIn = async (account: string): Promise<LoggedIn> => {
    const { login } = await deviceLogin(gh, op, account, `${sshd.user}@sso`, 'sleep 300');
    await gh.waitFor(`${account}'s session to be active`, () => gh.logs.some((l) => l.event === 'session.active' && l['gatewayUser'] === account), 30_000);
    const sid = gh.logs.find((l) => l.event === 'session.active' && l['gatewayUser'] === account)!.sid!;
    const identity = gh.app.registry.list().find((s) => s.id === sid)!.identity!;
    return { login, sid, identity, exited: login.done.then(() => Date.now()) };
  };
  const live = (sid: string): boolean => gh.app.registry.list().some((s) => s.id === sid && !s.closed);

  before(async () => {
    op = await listenTestProvider({ alice: { groups: ['ops'] }, carol: { groups: ['ops'] } });
    sshd = await startSshd({ password: false, config: [] });
    gh = await startGatehouse({
      plugins: ['oidc'],
      policies: () => [oidcPolicy('sso', sshd, oidcConfiguration(op.issuer))],
      extra: () => ({
        hosts: { sso: `127.0.0.1:${sshd.port}` },
        identity_logout: { listen: '127.0.0.1:0', path: PATH, providers: [{ issuer: op.issuer, audience: op.clientId }] },
      }),
      files: () => ({ target_known_hosts: `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n` }),
    });
    sshd.authorize(gh.clientKeyLine);
    url = `http://127.0.0.1:${gh.app.identityAddress!.port}${PATH}`;
    await op.start({ backchannelLogoutUri: url });
    alice = await logIn('alice');
    carol = await logIn('carol');
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await op?.stop();
  });

  test('each session is bound to the provider identity that authenticated it', () => {
    const a = alice.identity;
    const c = carol.identity;
    assert.equal(a.issuer, op.issuer);
    assert.equal(a.subject, 'alice');
    assert.equal(c.subject, 'carol');
    assert.ok(a.sid && c.sid && a.sid !== c.sid, 'each has its own provider session id');
  });

  test('forged, expired, wrong-audience, nonce-carrying and replayed logout tokens get 400 and end nothing', async () => {
    const target = { iss: op.issuer, aud: op.clientId, sub: 'alice', sid: alice.identity.sid };
    const rogue = (await generateKeyPair('RS256')).privateKey as SigningKey;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>, RegExp][] = [
      ['forged', signLogoutToken(rogue, PROVIDER_KID, target), /signature/],
      ['expired', signLogoutToken(op.signingKey(), PROVIDER_KID, target, { iat: now - 900, exp: now - 600 }), /expired/],
      ['wrong audience', signLogoutToken(op.signingKey(), PROVIDER_KID, target, { aud: 'another-client' }), /aud/],
      ['nonce', signLogoutToken(op.signingKey(), PROVIDER_KID, target, { nonce: 'n-0S' }), /nonce/],
    ];
    for (const [what, token, why] of cases) {
      const r = await postLogoutToken(url, await token);
      assert.equal(r.status, 400, `${what}: ${r.body}`);
      const body = JSON.parse(r.body) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_request', what);
      assert.match(body.error_description, why, what);
      assert.ok(gh.logs.some((l) => l.event === 'identity.logout_rejected' && why.test(String(l['reason']))), `${what} logged with its reason`);
    }
    // A valid token (for a provider session nobody here has) is taken once; the same token again is a replay.
    const once = await signLogoutToken(op.signingKey(), PROVIDER_KID, { ...target, sid: 'no-such-provider-session' });
    assert.equal((await postLogoutToken(url, once)).status, 200);
    const again = await postLogoutToken(url, once);
    assert.equal(again.status, 400);
    assert.match(again.body, /replay/);
    // Not a logout request at all.
    const noToken = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1' });
    assert.equal(noToken.status, 400);
    assert.ok(live(alice.sid) && live(carol.sid), 'both sessions are still up');
    assert.ok(!gh.logs.some((l) => l.event === 'session.closed'));
  });

  test('the provider signs alice out: her SSH session ends within a second with the message, carol\'s stays up', async () => {
    await op.logout('alice');
    const exitedAt = await alice.exited;
    const r = await alice.login.done;
    assert.match(r.stderr, /Your sign-in session ended at the identity provider\./);
    const logout = gh.logs.find((l) => l.event === 'identity.logout' && (l['sessions'] as string[]).includes(alice.sid));
    assert.ok(logout, 'the log names the token that ended the session');
    assert.equal(logout['idpSid'], alice.identity.sid);
    const took = exitedAt - Date.parse(logout['time'] as string);
    assert.ok(took < 1000, `ssh ended ${took} ms after the logout token arrived`);

    const [closed] = (await gh.closedSessions(1)).filter((l) => l.sid === alice.sid);
    assert.equal(closed!['reason'], 'idp_logout');
    assert.equal(closed!['code'], 'IDP_LOGOUT');
    const ended = gh.logs.filter((l) => l.event === 'plugin.output' && l.sid === alice.sid && /oidc: session .* ended/.test(l.msg));
    assert.equal(ended.length, 1, 'session_ended ran once');
    const record = await endedRow(gh, alice.sid) as unknown as Record<string, unknown>;
    assert.equal(record['end_reason'], 'idp_logout');
    assert.equal(record['ended_by'], `logout_token jti=${logout['jti'] as string} iss=${op.issuer}`);
    assert.deepEqual(record['identity'], { issuer: op.issuer, subject: 'alice', sid: alice.identity.sid });

    assert.ok(live(carol.sid), 'carol is still connected');
  });

  test('gatehouse terminate --gateway-user ends every session of that user', async () => {
    const none = await cli('terminate', '--gateway-user', 'nobody', '--yes', '--config', gh.configFile);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no session of gateway user nobody/);
    const r = await cli('terminate', '--gateway-user', 'carol', '--yes', '--config', gh.configFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^terminated ${carol.sid} \\(`));
    const done = await carol.login.done;
    assert.match(done.stderr, /Session terminated by an administrator\./);
    await gh.waitFor('carol closed', () => gh.logs.some((l) => l.event === 'session.closed' && l.sid === carol.sid && l['reason'] === 'terminated'));
  });
});
