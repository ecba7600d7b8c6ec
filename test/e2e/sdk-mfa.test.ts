import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startHttpService, type HttpService } from '../helpers/http-service.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';
import { endedRow } from '../helpers/session-db.js';

// An MFA plugin written on Gatehouse's safeguard.sessions.plugin (AAPlugin + MFAClient, as the public SPS
// plugins are), through real ssh logins to a real sshd, against an HTTP MFA service on loopback.

const CODE = '246810';
const aliases = ['mfa', 'questions', 'limit', 'cache'];

describe('an SDK-style MFA plugin (AAPlugin + MFAClient)', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let mfa: HttpService;
  let gate: string;
  let sessions = 0;
  const ssh = (login: string, answers: string[] = [], command = 'id -un') => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login, answers, command });
  };
  const bare = (prompts: string[]) => prompts.map((p) => p.replace(/^\(.*?\) /, ''));
  const pushes = () => mfa.requests.filter((r) => r.path === '/push');
  const otps = () => mfa.requests.filter((r) => r.path === '/otp');

  before(async () => {
    gate = mkdtempSync(join(tmpdir(), 'gh-sdk-gate-'));
    chmodSync(gate, 0o777);
    mfa = await startHttpService((req) => {
      const body = req.body as { user: string; code?: string };
      if (req.path === '/otp') return { body: { valid: body.user === sshd.user && body.code === CODE } };
      if (req.path === '/push') return { body: { approved: body.user === sshd.user } };
      return { status: 404, body: {} };
    });
    sshd = await startSshd();
    const acme = `[acme]\napi_url = ${mfa.url}\n`;
    const configs: Record<string, string> = {
      mfa: `${acme}[auth]\nprompt = Acme code:\ndisable_echo = yes\n`,
      questions: `${acme}[question_1]\nkey = ticket\nprompt = Ticket number:\ndisable_echo = no\n\n[question_2]\nkey = why\nprompt = Reason:\n[test]\nreport_questions = yes\n`,
      limit: `${acme}[connection_limit by=client_ip_gateway_user]\nlimit = 2\n`,
      cache: `${acme}[authentication_cache]\nhard_timeout = 300\nsoft_timeout = 300\nreuse_limit = 5\n`,
    };
    gh = await startGatehouse({
      plugins: ['sdk_mfa'],
      policies: () => aliases.map((alias) => ({
        name: alias,
        aa_plugin: { name: 'sdk_mfa', configuration: configs[alias] },
        targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
        target_auth: { method: 'key' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      })),
      extra: () => ({ hosts: scenarioHosts(sshd, aliases.map((alias) => ({ alias }))) }),
      files: () => targetKnownHosts(sshd),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await mfa?.stop();
    rmSync(gate, { recursive: true, force: true });
  });

  test('the OTP prompt shows the configured text; the right code logs in, checked by the MFA service', async () => {
    const before = otps().length;
    const r = await ssh(`${sshd.user}@mfa`, [CODE]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.deepEqual(bare(r.prompts), ['Acme code: ']);
    assert.deepEqual(otps().slice(before).map((q) => q.body), [{ user: sshd.user, code: CODE }]);
    assert.ok(!JSON.stringify(gh.logs).includes(CODE), 'the one-time password reached the log');
  });

  test('with disable_echo the code is not echoed in a real terminal; the default prompt echoes', async () => {
    const t = new Terminal('ssh', ['-F', '/dev/null', '-tt', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-l', `${sshd.user}@mfa`, '127.0.0.1', 'echo logged-in']);
    sessions++;
    try {
      const at = await t.waitFor(/Acme code: /);
      t.type(`${CODE}\r`);
      await t.waitFor(/logged-in/, at);
      assert.ok(!t.transcript.includes(CODE), `the code was echoed:\n${t.transcript}`);
    } finally {
      t.kill();
    }
    const q = new Terminal('ssh', ['-F', '/dev/null', '-tt', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-l', `${sshd.user}@questions`, '127.0.0.1', 'echo logged-in']);
    sessions++;
    try {
      let at = await q.waitFor(/Press Enter for push notification or type one-time password: /);
      q.type(`${CODE}\r`);
      at = await q.waitFor(/Ticket number: /, at);
      q.type('TICKET-77\r');
      at = await q.waitFor(/TICKET-77/, at); // [question_1] disable_echo = no: echoed
      at = await q.waitFor(/Reason: /, at);
      q.type('Hush-99\r');
      await q.waitFor(/logged-in/, at);
      assert.ok(!q.transcript.includes('Hush-99'), 'a question echoes nothing by default');
    } finally {
      q.kill();
    }
  });

  test('a pre-supplied otp= skips the prompt', async () => {
    const r = await ssh(`otp=${CODE}@${sshd.user}@mfa`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.prompts, []);
  });

  test('an empty answer takes the push path', async () => {
    const before = pushes().length;
    const r = await ssh(`${sshd.user}@mfa`, ['']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pushes().slice(before).map((q) => q.body), [{ user: sshd.user }]);
  });

  test('a wrong code is denied with the deny reason shown', async () => {
    const r = await ssh(`${sshd.user}@mfa`, ['111111']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Authentication failed/);
    assert.equal(r.stdout, '');
    const closed = (await gh.closedSessions(sessions)).at(-1)!;
    assert.equal(closed.code, 'DENIED_BY_PLUGIN');
  });

  test('[question_1] and [question_2] are asked one per round after MFA; answers land in session_cookie["questions"]', async () => {
    const r = await ssh(`${sshd.user}@questions`, [CODE, 'T-1001', 'db upgrade']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(bare(r.prompts), ['Press Enter for push notification or type one-time password: ', 'Ticket number: ', 'Reason: ']);
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    assert.deepEqual(await metadata(sid), [{ questions: { ticket: 'T-1001', why: 'db upgrade' } }]);
    const authn = gh.logs.filter((l) => l.sid === sid && l.event === 'hook.call' && l['hook'] === 'authenticate');
    assert.deepEqual(authn.map((l) => l['verdict']), ['NEEDINFO', 'NEEDINFO', 'NEEDINFO', 'ACCEPT']);
  });

  test('pre-supplied question keys are skipped', async () => {
    const r = await ssh(`ticket=T-9@otp=${CODE}@${sshd.user}@questions`, ['maintenance']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(bare(r.prompts), ['Reason: ']);
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    assert.deepEqual(await metadata(sid), [{ questions: { ticket: 'T-9', why: 'maintenance' } }]);
  });

  test('[connection_limit] refuses the session beyond the limit across parallel logins, and frees a place at session end', async () => {
    const release = join(gate, 'release');
    const hold = `while [ ! -e ${release} ]; do sleep 0.1; done; echo held`;
    const accepted = () => gh.logs.filter((l) => l.event === 'hook.call' && l['hook'] === 'authorize' && l['verdict'] === 'ACCEPT').length;
    const start = accepted();
    const holders = [ssh(`otp=${CODE}@${sshd.user}@limit`, [], hold), ssh(`otp=${CODE}@${sshd.user}@limit`, [], hold)];
    await gh.waitFor('two sessions authorized', () => accepted() >= start + 2, 60_000);
    const third = await ssh(`otp=${CODE}@${sshd.user}@limit`);
    assert.equal(third.code, 255);
    assert.match(third.stderr, /Connection limit reached/);
    writeFileSync(release, '');
    for (const h of await Promise.all(holders)) assert.equal(h.stdout.trim(), 'held', h.stderr);
    await gh.closedSessions(sessions);
    const again = await ssh(`otp=${CODE}@${sshd.user}@limit`);
    assert.equal(again.code, 0, again.stderr);
  });

  test('[authentication_cache] skips the second MFA within its timeout', async () => {
    const before = otps().length;
    const first = await ssh(`${sshd.user}@cache`, [CODE]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.prompts.length, 1);
    const second = await ssh(`${sshd.user}@cache`);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.prompts, []);
    assert.equal(otps().length - before, 1, 'the MFA service was asked once');
  });

  async function metadata(sid: string): Promise<unknown> {
    const row = await endedRow(gh, sid);
    return row.additional_metadata.map((m) => JSON.parse(m) as unknown);
  }
});
