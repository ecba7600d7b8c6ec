import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedReason, runProgram } from '../helpers/clients.js';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { FIXTURES } from '../helpers/paths.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// asyncssh (Debian python3-asyncssh) as a user's client against Gatehouse's default configuration (no ssh:
// section): asyncssh.connect(password=...) with its defaults (it tries keyboard-interactive, whose Token
// prompt it does not answer with a password, then the password method), keyboard-interactive answering
// NEEDINFO prompts with their echo flags, conn.run, SFTP, port forwarding both ways, and the log line an
// administrator reads when its offer has nothing in common with Gatehouse's. The client is
// test/fixtures/asyncssh-client.py.

const SECRET = 'Asyncssh-Token-1618';
const PIN = '1729';
const SPECS: PolicySpec[] = [
  { alias: 'tgt', plugin: { expect: { token: SECRET } } },
  { alias: 'two', plugin: { questions: [['token', 'Token: ', true], ['pin', 'PIN: ', false]], expect: { token: SECRET, pin: PIN } } },
];

interface Reply { error?: string; [key: string]: unknown }

describe('asyncssh with the default configuration', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  let home: string;
  let work: string;

  const asyncssh = async (spec: Record<string, unknown>): Promise<Reply> => {
    const r = await runProgram('/usr/bin/python3', [join(FIXTURES, 'asyncssh-client.py'),
      JSON.stringify({ port: gh.port, user: `${sshd.user}@tgt`, known_hosts: gh.knownHosts, password: SECRET, ...spec })], { HOME: home });
    const reply = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Reply;
    assert.equal(reply.error, undefined, `${r.stdout}\n${r.stderr}`);
    return reply;
  };

  before(async () => {
    scenario = await startScenario(SPECS);
    ({ sshd, gh } = scenario);
    home = mkdtempSync(join(tmpdir(), 'gh-asyncssh-home-'));
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    // A key of the user's own, which asyncssh loads by default (Gatehouse does not offer publickey).
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519')]);
    work = mkdtempSync(join(tmpdir(), 'gh-asyncssh-'));
    chmodSync(work, 0o777); // the target account writes here
  });
  after(async () => {
    await scenario?.stop();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('connect(password=...) with the defaults, then conn.run: output and exit status', async () => {
    const n = gh.logs.length;
    const r = await asyncssh({ mode: 'password', command: 'echo "$(id -un) asyncssh-in"; exit 4' });
    assert.deepEqual(r, { stdout: `${sshd.user} asyncssh-in\n`, exit_status: 4 });
    const methods = gh.logs.slice(n).filter((l) => l.event === 'auth.request').map((l) => l.method);
    assert.deepEqual(methods, ['keyboard-interactive', 'password']);
    assert.ok(gh.logs.slice(n).some((l) => l.event === 'session.connect' && String(l.client).startsWith('AsyncSSH_2.')));
    assert.equal(await closedReason(gh, n), 'logout');
  });

  test('keyboard-interactive: each NEEDINFO prompt arrives with the echo flag the plugin asked for', async () => {
    const r = await asyncssh({ mode: 'kbdint', user: `${sshd.user}@two`, answers: { 'Token: ': SECRET, 'PIN: ': PIN }, command: 'echo kbd-in; exit 6' });
    assert.equal(r.stdout, 'kbd-in\n');
    assert.equal(r.exit_status, 6);
    const prompts = (r.challenges as { prompts: [string, boolean][] }[]).map((c) => c.prompts);
    assert.deepEqual(prompts, [[['Token: ', false]], [['PIN: ', true]]]);
  });

  test('keyboard-interactive: a wrong answer is asked again, then the right one gets in', async () => {
    const r = await asyncssh({ mode: 'kbdint', answers: { 'Token: ': ['not-the-token', SECRET] }, command: 'echo again-in' });
    assert.equal(r.stdout, 'again-in\n');
    assert.deepEqual((r.challenges as { prompts: [string, boolean][] }[]).map((c) => c.prompts), [[['Token: ', false]], [['Token: ', false]]]);
  });

  test('SFTP put and get through start_sftp_client()', async () => {
    const payload = randomBytes(300_000);
    writeFileSync(join(work, 'up.bin'), payload);
    const r = await asyncssh({ mode: 'sftp', local: join(work, 'up.bin'), remote: join(work, 'remote.bin'), back: join(work, 'back.bin'), dir: work });
    assert.deepEqual(r.listing, ['.', '..', 'back.bin', 'remote.bin', 'up.bin']);
    assert.ok(readFileSync(join(work, 'remote.bin')).equals(payload));
    assert.ok(readFileSync(join(work, 'back.bin')).equals(payload));
  });

  test('port forwarding: forward_local_port and forward_remote_port (port 0) reach the target side', async () => {
    // Both forwards lead to the target sshd's own port, so the first line read through each is its banner.
    const r = await asyncssh({ mode: 'forward', to_port: sshd.port });
    assert.match(String(r.local), /^SSH-2\.0-OpenSSH_/);
    assert.ok(Number(r.remote_port) > 0, 'the port the target allocated is reported back');
    assert.match(String(r.remote), /^SSH-2\.0-OpenSSH_/);
  });

  test('an offer with nothing in common fails, and Gatehouse logs why at info, with the client\'s offer', async () => {
    // With the client's offer of the kind that failed, as OpenSSH's sshd logs "Their offer: ..." (asyncssh adds
    // its extension markers to the key exchange list).
    const cases: [Record<string, unknown>, RegExp, RegExp][] = [
      [{ encryption_algs: ['3des-cbc'] }, /cipher/, /^3des-cbc$/],
      [{ encryption_algs: ['aes128-ctr'], mac_algs: ['hmac-md5'] }, /MAC/, /^hmac-md5$/],
      [{ kex_algs: ['diffie-hellman-group1-sha1'] }, /key exchange/, /^diffie-hellman-group1-sha1(,|$)/],
    ];
    for (const [offer, reason, theirs] of cases) {
      const n = gh.logs.length;
      const r = await asyncssh({ mode: 'algos', ...offer });
      assert.equal(r.connected, false);
      assert.match(String(r.client_error), /No matching/);
      await gh.waitFor('the handshake failure logged', () => gh.logs.slice(n).some((l) => l.event === 'client.handshake_failed'));
      const line = gh.logs.slice(n).find((l) => l.event === 'client.handshake_failed')!;
      assert.equal(line.level, 'info');
      assert.match(String(line.reason), reason);
      assert.match(String(line.client), /^AsyncSSH_/);
      assert.match(String(line.clientOffer), theirs);
    }
  });
});
