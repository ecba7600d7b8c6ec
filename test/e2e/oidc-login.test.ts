import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closedPort, deviceLogin, oidcConfiguration, oidcPolicy, startDeviceLogin } from '../helpers/device-login.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { listenTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// Single sign-on over SSH: the real OpenSSH client logs in through Gatehouse with the bundled oidc plugin,
// which runs the OAuth 2.0 device flow against a real OpenID Provider (oidc-provider) on loopback; the test
// approves the code over HTTP through the provider's login and consent pages, as a person in a browser would.

describe('oidc plugin: device flow login through Gatehouse against a real OpenID Provider', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let op: TestProvider;

  before(async () => {
    op = await listenTestProvider({ alice: { groups: ['ops', 'staff'] }, bob: { groups: ['staff'] } });
    await op.start({});
    const down = await closedPort();
    process.env['GH_TEST_OIDC_SECRET'] = op.clientSecret;
    sshd = await startSshd({ password: false, config: [] });
    gh = await startGatehouse({
      plugins: ['oidc'],
      policies: () => [
        oidcPolicy('sso', sshd, oidcConfiguration(op.issuer, 'GH_TEST_OIDC_SECRET')),
        oidcPolicy('sso-down', sshd, oidcConfiguration(`http://127.0.0.1:${down}`)),
      ],
      extra: () => ({ hosts: { sso: `127.0.0.1:${sshd.port}`, 'sso-down': `127.0.0.1:${sshd.port}` } }),
      files: () => ({ target_known_hosts: `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n` }),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await op?.stop();
  });

  test('the user opens the URL, enters the code, signs in and consents; Enter logs in with user and groups from the ID token', async () => {
    const { login, code } = await deviceLogin(gh, op, 'alice', `${sshd.user}@sso`, 'id -un');
    const r = await login.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    const prompt = login.prompts()[0]!;
    assert.match(prompt, new RegExp(`Open ${op.issuer}/device and enter code ${code} \\(or open ${op.issuer}/device\\?user_code=`));
    assert.match(prompt, /then press Enter/);
    const active = gh.logs.find((l) => l.event === 'session.active' && l['gatewayUser'] === 'alice');
    assert.ok(active, 'session accepted for gateway user alice');
    const closed = await gh.closedSessions(1);
    assert.equal(closed.at(-1)!['reason'], 'logout');
  });

  test('groups come from the claim: a user without the ops group may not be the target user', async () => {
    const { login } = await deviceLogin(gh, op, 'bob', `${sshd.user}@sso`, 'id -un');
    const r = await login.done;
    assert.notEqual(r.code, 0);
    await gh.waitFor('USERMAP_DENIED for bob', () => gh.logs.some((l) => l.code === 'USERMAP_DENIED' && JSON.stringify(l).includes('bob')));
  });

  test('refusing at the provider gives a plain message', async () => {
    const l = startDeviceLogin(gh, `${sshd.user}@sso`, 'id -un');
    await op.refuse(await l.userCode(), 'alice');
    l.pressEnter();
    const r = await l.done;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Sign-in was refused at the identity provider\./);
  });

  test('provider down at login: the user reads that the sign-in service cannot be reached', async () => {
    const r = await startDeviceLogin(gh, `${sshd.user}@sso-down`, 'id -un').done;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /The sign-in service cannot be reached right now; please try again later\./);
    await gh.waitFor('plugin logged the reason', () => gh.logs.some((l) => /provider unreachable: .*ECONNREFUSED/.test(String(l.msg))));
  });
});
