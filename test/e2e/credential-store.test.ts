import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generateEd25519 } from '../../src/ssh2x/keygen.js';
import { startGatehouse, type Gatehouse, type LogLine, type PluginCall } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, TEST_USER_PASSWORD, type Sshd } from '../helpers/sshd.js';

// Credential stores (spec 6): Gatehouse logs in to the target with what the store hands out (keys in order,
// unsupported ones skipped, then passwords), tells the store authentication_completed only after a success,
// falls back to asking the user for the target password, and runs session_ended once, with cookies kept apart
// from the AA plugin's and session_cookie shared.

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const ed = generateEd25519('test');
const DSA_PEM = '-----BEGIN DSA PRIVATE KEY-----\nMIIBuwIBAAKBgQD\n-----END DSA PRIVATE KEY-----\n';

interface StoreCase { alias: string; store: Record<string, unknown> }
const CASES: StoreCase[] = [
  { alias: 'cs-keys', store: { private_keys: [['ssh-dss', DSA_PEM], ['ssh-rsa', rsa.privateKey], ['ssh-ed25519', ed.private]], passwords: [TEST_USER_PASSWORD] } },
  { alias: 'cs-password', store: { passwords: ['Wrong-Stored-1', TEST_USER_PASSWORD] } },
  { alias: 'cs-wrong', store: { passwords: ['Wrong-Stored-2'] } },
  { alias: 'cs-none', store: { none: true } },
];

for (const store of ['store_js', 'store_py']) describe(`credential store [${store}]`, () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let sessions = 0;
  const ssh = (alias: string, answers: string[] = []) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=good@${sshd.user}@${alias}`, answers, command: 'id -un' });
  };
  const storeCalls = (sid: string, hook?: string): PluginCall[] =>
    gh.calls(hook).filter((c) => c.session_id === sid && c.plugin === 'store');
  const closed = async (alias: string): Promise<LogLine> => (await gh.closedSessions(sessions)).filter((l) => l['policy'] === alias).at(-1)!;

  before(async () => {
    sshd = await startSshd({ password: true });
    sshd.authorize(ed.public);
    const aliases = CASES.map((c) => ({ alias: c.alias }));
    gh = await startGatehouse({
      plugins: ['scripted', store],
      policies: (ctx) => CASES.map((c) => ({
        name: c.alias,
        aa_plugin: { name: 'scripted', configuration: JSON.stringify({ record: ctx.callsFile, gateway: { user: 'alice', groups: ['ops'] }, session_cookie: { questions: { vp: 'secret/db' } } }) },
        credential_store: { name: store, configuration: JSON.stringify({ record: ctx.callsFile, ...c.store }) },
        targets: { allow: [{ hosts: [c.alias], ports: [sshd.port] }] },
        target_auth: { method: 'credential_store' },
        host_key_check: { known_hosts: 'target_known_hosts' },
        usermapping: [{ server_user: '*', gateway_users: ['alice'] }],
      })),
      extra: () => ({ hosts: scenarioHosts(sshd, aliases) }),
      files: () => targetKnownHosts(sshd),
    });
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
  });

  test('private keys are tried in the order given, an unsupported one skipped; no password is fetched', async () => {
    const r = await ssh('cs-keys');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.deepEqual(r.prompts, []);
    const c = await closed('cs-keys');
    const sid = c.sid!;
    assert.ok(gh.logs.some((l) => l.sid === sid && l.event === 'credential.skipped' && /unsupported key type "ssh-dss"/.test(l.msg)));
    const tries = gh.logs.filter((l) => l.sid === sid && l.event === 'target.auth_try').map((l) => l['keyType']);
    assert.deepEqual(tries, ['ssh-rsa', 'ssh-ed25519']);
    const connected = gh.logs.find((l) => l.sid === sid && l.event === 'target.connect')!;
    assert.equal((connected['auth'] as { keyType: string }).keyType, 'ssh-ed25519');
    assert.match((connected['auth'] as { fingerprint: string }).fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(storeCalls(sid, 'get_password_list').length, 0);
    assert.equal(storeCalls(sid, 'authentication_completed').length, 1);
    assert.equal(storeCalls(sid, 'session_ended').length, 1);
    // What the log says about keys is their type and fingerprint, never the key.
    const text = JSON.stringify(gh.logs);
    assert.ok(!text.includes('PRIVATE KEY') && !text.includes(ed.private.split('\n')[1]!));
  });

  test('a password from the store works after a wrong one; arguments use the SPS credential-store names', async () => {
    const r = await ssh('cs-password');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.prompts, []);
    const sid = (await closed('cs-password')).sid!;
    const [call] = storeCalls(sid, 'get_password_list');
    assert.ok(call);
    for (const k of ['session_id', 'cookie', 'session_cookie', 'protocol', 'client_hostname', 'client_ip', 'gateway_username', 'gateway_password',
      'gateway_groups', 'gateway_domain', 'server_username', 'server_ip', 'server_hostname', 'server_port', 'server_domain',
      'target_username', 'target_host', 'target_port', 'target_domain']) {
      assert.ok(k in call.args, `get_password_list lacks ${k}`);
    }
    assert.equal(call.args['gateway_username'], 'alice');
    assert.deepEqual(call.args['gateway_groups'], ['ops']);
    assert.equal(call.args['server_username'], sshd.user);
    assert.equal(call.args['server_port'], sshd.port);
    assert.equal(call.args['protocol'], 'ssh');
    assert.equal(storeCalls(sid, 'authentication_completed').length, 1);
    const text = JSON.stringify(gh.logs);
    assert.ok(!text.includes(TEST_USER_PASSWORD) && !text.includes('Wrong-Stored-1'));
  });

  test('stored credentials that fail: the user is asked for the target password, and the store is not told of a success', async () => {
    const r = await ssh('cs-wrong', [TEST_USER_PASSWORD]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.prompts.length, 1);
    assert.match(r.prompts[0]!, new RegExp(`${sshd.user}@cs-wrong's password: $`));
    const sid = (await closed('cs-wrong')).sid!;
    assert.equal(storeCalls(sid, 'authentication_completed').length, 0);
    assert.equal(storeCalls(sid, 'session_ended').length, 1);
  });

  test('a store that returns None falls back to asking the user', async () => {
    const r = await ssh('cs-none', [TEST_USER_PASSWORD]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.prompts.length, 1);
    const sid = (await closed('cs-none')).sid!;
    assert.equal(storeCalls(sid, 'get_private_key_list').length, 1);
    assert.equal(storeCalls(sid, 'get_password_list').length, 1);
    assert.equal(storeCalls(sid, 'authentication_completed').length, 0);
  });

  test('cookies: each plugin keeps its own, session_cookie is shared and the last writer wins (spec 11.13)', async () => {
    await gh.closedSessions(sessions);
    const sid = gh.logs.find((l) => l.event === 'session.closed' && l['policy'] === 'cs-keys')!.sid!;
    const [keys] = storeCalls(sid, 'get_private_key_list');
    // The AA plugin's session_cookie reached the store; the store's own cookie started empty.
    assert.deepEqual(keys!.args['session_cookie'], { questions: { vp: 'secret/db' } });
    assert.deepEqual(keys!.args['cookie'], {});
    const [completed] = storeCalls(sid, 'authentication_completed');
    assert.deepEqual(completed!.args['cookie'], { key_calls: 1 });
    const [storeEnded] = storeCalls(sid, 'session_ended');
    assert.deepEqual(storeEnded!.args['cookie'], { key_calls: 1 });
    const aaEnded = gh.calls('session_ended').find((c) => c.session_id === sid && c.plugin === undefined)!;
    assert.equal((aaEnded.args['cookie'] as Record<string, unknown>)['accepted'], true);
    assert.equal((aaEnded.args['cookie'] as Record<string, unknown>)['key_calls'], undefined);
    // The store wrote session_cookie last: the AA plugin's session_ended sees the store's version.
    assert.deepEqual(aaEnded.args['session_cookie'], { questions: { vp: 'secret/db' }, store: 'was here' });
  });
});

describe('the example file_credentials plugin', () => {
  let sshd: Sshd;
  let gh: Gatehouse;

  before(async () => {
    sshd = await startSshd({ password: true });
    sshd.authorize(ed.public);
    const aliases = [{ alias: 'bykey' }, { alias: 'bypassword' }];
    gh = await startGatehouse({
      plugins: ['scripted', 'file_credentials'],
      policies: (ctx) => aliases.map(({ alias }) => ({
        name: alias,
        aa_plugin: { name: 'scripted', configuration: JSON.stringify({ record: ctx.callsFile }) },
        credential_store: { name: 'file_credentials', configuration: `[file]\npath = ${ctx.dir}/secrets/credentials.json\n` },
        targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
        target_auth: { method: 'credential_store' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      })),
      extra: () => ({ hosts: scenarioHosts(sshd, aliases) }),
      files: () => ({
        ...targetKnownHosts(sshd),
        'secrets/db_key': ed.private,
        'secrets/credentials.json': JSON.stringify({
          accounts: [
            { host: 'bykey', user: sshd.user, private_keys: [{ type: 'ssh-ed25519', file: 'db_key' }] },
            { host: 'bypassword', user: sshd.user, passwords: [TEST_USER_PASSWORD] },
          ],
        }),
      }),
    });
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
  });

  test('logs in with the key or the password the file names for the account, without asking the user', async () => {
    for (const alias of ['bykey', 'bypassword']) {
      const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=good@${sshd.user}@${alias}`, command: 'id -un' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), sshd.user);
      assert.deepEqual(r.prompts, []);
    }
    await gh.waitFor('the plugin\'s session_ended output', () =>
      gh.logs.filter((l) => l.event === 'plugin.output' && /^session .* ended \(account /.test(l.msg)).length === 2);
    assert.ok(gh.logs.some((l) => l.event === 'plugin.output' && new RegExp(`^credential of ${sshd.user}@bykey used`).test(l.msg)));
  });
});
