import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startHttpService, type HttpService } from '../helpers/http-service.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, TEST_USER_PASSWORD, type Sshd } from '../helpers/sshd.js';

// A credential store written on Gatehouse's safeguard.sessions.plugin (CredentialStorePlugin, RequestsTLS,
// EndpointExtractor, as the public vault plugins are) against a small HTTP vault served by the test: what it
// returns logs Gatehouse in to a real sshd, check-in runs exactly once for each trigger setting, and it can
// read the answer the AA plugin's [question_1] collected in session_cookie["questions"].

const VAULT_USER = 'gatehouse';
const VAULT_PASSWORD = 'Vault-Login-8812';
const OTP = '246810';
const aliases = ['pw', 'pw-ac', 'key', 'vp'];

describe('an SDK-style credential store (CredentialStorePlugin) against an HTTP vault', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let vault: HttpService;
  let mfa: HttpService;
  let dir: string;
  let checkins = 0;
  let sessions = 0;
  const secrets = new Map<string, Record<string, string>>();
  const ssh = (alias: string, answers: string[] = [], command = 'id -un') => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `otp=${OTP}@${sshd.user}@${alias}`, answers, command });
  };
  const storeEnded = (sid: string) => gh.logs.some((l) => l.sid === sid && l.event === 'hook.call' && l['plugin'] === 'sdk_vault' && l['hook'] === 'session_ended');
  const checkinRequests = () => vault.requests.filter((r) => r.path === '/v1/checkin');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-sdk-vault-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'checkins'), '0');
    chmodSync(join(dir, 'checkins'), 0o644);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'stored_key')]);
    sshd = await startSshd({ password: true });
    sshd.authorize(readFileSync(join(dir, 'stored_key.pub'), 'utf8').trim());
    secrets.set(`pw/127.0.0.1/${sshd.user}`, { password: TEST_USER_PASSWORD });
    secrets.set(`keys/127.0.0.1/${sshd.user}`, { key: readFileSync(join(dir, 'stored_key'), 'utf8') });
    secrets.set(`special/${sshd.user}`, { password: TEST_USER_PASSWORD });
    vault = await startHttpService((req) => {
      const body = req.body as Record<string, string> | undefined;
      if (req.path === '/v1/auth/login') {
        const ok = body?.['username'] === VAULT_USER && body?.['password'] === VAULT_PASSWORD;
        return ok ? { body: { auth: { token: 'tok-1' } } } : { status: 403, body: { errors: ['denied'] } };
      }
      if (req.headers['x-vault-token'] !== 'tok-1') return { status: 403, body: { errors: ['no token'] } };
      if (req.path === '/v1/checkin') {
        checkins++;
        writeFileSync(join(dir, 'checkins'), String(checkins));
        return { body: {} };
      }
      const secret = secrets.get(req.path.replace(/^\/v1\/secret\//, ''));
      return secret ? { body: { data: secret } } : { status: 404, body: { errors: [] } };
    });
    mfa = await startHttpService((req) => ({ body: { valid: (req.body as { code?: string }).code === OTP } }));
    process.env['GH_TEST_VAULT_PASSWORD'] = VAULT_PASSWORD;
    const store = (mount: string, extra = '') =>
      `[vault]\naddress = ${vault.url}\nmount = ${mount}\nuse_credential = explicit\nusername = ${VAULT_USER}\npassword = $\n` +
      `[credential_store]\nname = local\n[tls]\nenabled = no\n${extra}`;
    const stores: Record<string, string> = {
      pw: store('pw'),
      'pw-ac': store('pw', '[check-in-trigger]\ndefault = session-ended\nssh = authentication-completed\n'),
      key: store('keys'),
      vp: store('none'),
    };
    const aa = (alias: string) => `[acme]\napi_url = ${mfa.url}\n` + (alias === 'vp' ? '[question_1]\nkey = vp\nprompt = Vault path:\n' : '');
    gh = await startGatehouse({
      plugins: ['sdk_mfa', 'sdk_vault'],
      policies: () => aliases.map((alias) => ({
        name: alias,
        aa_plugin: { name: 'sdk_mfa', configuration: aa(alias) },
        credential_store: { name: 'sdk_vault', configuration: stores[alias] },
        targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
        target_auth: { method: 'credential_store' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      })),
      extra: () => ({
        hosts: scenarioHosts(sshd, aliases.map((alias) => ({ alias }))),
        sdk: { credential_stores: { local: [{ host: 'vault', user: 'password', passwords: [{ env: 'GH_TEST_VAULT_PASSWORD' }] }] } },
      }),
      files: () => targetKnownHosts(sshd),
    });
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await vault?.stop();
    await mfa?.stop();
    delete process.env['GH_TEST_VAULT_PASSWORD'];
    rmSync(dir, { recursive: true, force: true });
  });

  test('the password from the vault logs Gatehouse in; check-in once, at session end (default trigger)', async () => {
    const before = checkins;
    const r = await ssh('pw', [], `cat ${join(dir, 'checkins')}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.prompts, [], 'no fallback password prompt');
    assert.equal(r.stdout.trim(), String(before), 'checked in before the session ended');
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    await gh.waitFor('session_ended of the store', () => storeEnded(sid));
    assert.equal(checkins, before + 1);
    assert.deepEqual(checkinRequests().at(-1)!.body, { account: sshd.user, asset: '127.0.0.1' });
    const logs = JSON.stringify(gh.logs);
    assert.ok(!logs.includes(TEST_USER_PASSWORD) && !logs.includes(VAULT_PASSWORD), 'a secret reached the log');
  });

  test('[check-in-trigger] ssh = authentication-completed: check-in once, as soon as the target login succeeded', async () => {
    const before = checkins;
    const r = await ssh('pw-ac', [], `cat ${join(dir, 'checkins')}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(before + 1), 'not checked in when the session started');
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    await gh.waitFor('session_ended of the store', () => storeEnded(sid));
    assert.equal(checkins, before + 1, 'checked in again at session end');
  });

  test('a private key from the vault (its type detected) logs Gatehouse in', async () => {
    const r = await ssh('key');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    assert.ok(gh.logs.some((l) => l.sid === sid && l.event === 'hook.call' && l['hook'] === 'get_private_key_list'));
    assert.ok(!gh.logs.some((l) => l.sid === sid && l['hook'] === 'get_password_list'), 'the key worked; no password asked');
  });

  test('the store reads the AA question\'s answer from session_cookie["questions"]', async () => {
    const r = await ssh('vp', [`special/${sshd.user}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.prompts.map((p) => p.replace(/^\(.*?\) /, '')), ['Vault path: ']);
    assert.ok(vault.requests.some((q) => q.path === `/v1/secret/special/${sshd.user}`));
  });
});
