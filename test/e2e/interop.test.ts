import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runProgram } from '../helpers/clients.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// Clients other than OpenSSH's, with Gatehouse's default configuration (no ssh: section): Dropbear's dbclient
// (Debian dropbear-bin: neither AES-GCM nor CBC) and paramiko (Debian python3-paramiko: asks for the
// ssh-userauth service again before every attempt). Also how endings are reported: a target that dies
// mid-session, a client that vanishes, a handshake that fails.

const SECRET = 'Interop-Token-3141';
const SPECS: PolicySpec[] = [{ alias: 'tgt', plugin: { expect: { token: SECRET } } }];

// paramiko's default connect(password=...) (it tries the key in ~/.ssh first, then the password), and a
// second password attempt on the same transport after a wrong one.
const PARAMIKO = `
import sys, paramiko
port, user, secret, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
if mode == 'default':
    c.connect('127.0.0.1', port=port, username=user, password=secret, timeout=30)
else:
    try:
        c.connect('127.0.0.1', port=port, username=user, password='wrong-first', timeout=30, look_for_keys=False, allow_agent=False)
        print('wrong password accepted'); sys.exit(3)
    except paramiko.AuthenticationException:
        pass
    c.get_transport().auth_password(user, secret)
_, out, _ = c.exec_command('echo paramiko-in')
print(out.read().decode().strip())
c.close()
`;

describe('interoperability with the default configuration', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  let home: string;

  before(async () => {
    scenario = await startScenario(SPECS);
    ({ sshd, gh } = scenario);
    home = mkdtempSync(join(tmpdir(), 'gh-interop-'));
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    // A key Gatehouse does not take, as a user's would be: paramiko tries it before the password.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519')]);
  });
  after(async () => {
    await scenario?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test("Dropbear's dbclient logs in (AES-CTR or chacha20 offered after AES-GCM)", async () => {
    const n = gh.logs.length;
    const r = await runProgram('dbclient', ['-y', '-y', '-p', String(gh.port), '-l', `${sshd.user}@tgt`, '127.0.0.1', 'echo dropbear-in'],
      { HOME: home, DROPBEAR_PASSWORD: SECRET });
    assert.equal(r.stdout, 'dropbear-in\n', r.stderr);
    assert.ok(!gh.logs.some((l) => l.event === 'client.handshake_failed'));
    await gh.waitFor('the session closed', () => gh.logs.slice(n).some((l) => l.event === 'session.closed'), 30_000);
    assert.equal(gh.logs.slice(n).find((l) => l.event === 'session.closed')!.reason, 'logout');
  });

  for (const mode of ['default', 'second-attempt'] as const) {
    test(`paramiko logs in: ${mode === 'default' ? 'default connect(password=...) after trying a key' : 'a second password attempt after a wrong one'}`, async () => {
      const r = await runProgram('/usr/bin/python3', ['-c', PARAMIKO, String(gh.port), `${sshd.user}@tgt`, SECRET, mode], { HOME: home, SSH_AUTH_SOCK: '' });
      assert.equal(r.stdout, 'paramiko-in\n', r.stderr);
    });
  }

  test('a handshake failure is logged at info with its reason', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=${SECRET}@${sshd.user}@tgt`, command: 'true', options: ['-c', '3des-cbc'] });
    assert.notEqual(r.code, 0);
    await gh.waitFor('handshake failure logged', () => gh.logs.some((l) => l.event === 'client.handshake_failed'));
    const line = gh.logs.find((l) => l.event === 'client.handshake_failed')!;
    assert.equal(line.level, 'info');
    assert.match(String(line.reason), /cipher/);
    assert.equal(line.clientOffer, '3des-cbc'); // what the client offered, as OpenSSH's sshd logs it
  });

  test('a target that dies mid-session: the user reads "The server NAME closed the connection."', async () => {
    // The command kills its own sshd session process: the target's end of the connection goes at once.
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=${SECRET}@${sshd.user}@tgt`, command: 'echo started; sleep 1; kill -9 $PPID; sleep 30' });
    assert.match(r.stdout, /started/);
    assert.match(r.stderr, /The server tgt closed the connection\./);
    const closed = await gh.waitFor('session closed', () => gh.logs.some((l) => l.event === 'session.closed' && l.code === 'TARGET_CLOSED'));
    void closed;
  });

  test('a client that vanishes is client_gone; one that exits is logout', async () => {
    const before = gh.logs.filter((l) => l.event === 'session.closed').length;
    const ok = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=${SECRET}@${sshd.user}@tgt`, command: 'true' });
    assert.equal(ok.code, 0, ok.stderr);
    const args = [...sshArgs({ port: gh.port, knownHosts: gh.knownHosts, login: `token=${SECRET}@${sshd.user}@tgt` }), '127.0.0.1', 'echo up; sleep 60'];
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await gh.waitFor('two more sessions closed', () => gh.logs.filter((l) => l.event === 'session.closed').length >= before + 2, 30_000);
    const reasons = gh.logs.filter((l) => l.event === 'session.closed').slice(before).map((l) => l.reason);
    assert.deepEqual(reasons, ['logout', 'client_gone']);
  });
});
