import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedReason, fingerprint, gatehouseFingerprint, runProgram } from '../helpers/clients.js';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import { freePort, type Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';

// PuTTY's command-line tools (Debian putty-tools: plink, pscp, psftp) as users run them against Gatehouse's
// default configuration (no ssh: section): the host key pinned with -hostkey, a password with -pw (PuTTY
// tries keyboard-interactive first and answers a single prompt with it), NEEDINFO prompts typed at plink's
// terminal, pre-answers in the user name, an interactive shell, a local port forward, and file transfer over
// SFTP and over legacy scp.

const SECRET = 'Putty-Token-2718';
const PIN = '4242';
const SPECS: PolicySpec[] = [
  { alias: 'tgt', plugin: { expect: { token: SECRET } } },
  // Two NEEDINFO questions: the token without echo, then a PIN with echo.
  { alias: 'two', plugin: { questions: [['token', 'Token: ', true], ['pin', 'PIN: ', false]], expect: { token: SECRET, pin: PIN } } },
];

describe('PuTTY (plink, pscp, psftp) with the default configuration', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  let home: string;
  let work: string;
  let payload: Buffer;
  // -batch: never ask anything at the console; -hostkey: trust only Gatehouse's key, with nothing stored.
  const common = (login: string, extra: string[] = []): string[] =>
    ['-batch', '-P', String(gh.port), '-hostkey', gatehouseFingerprint(gh), '-l', login, ...extra];
  const putty = (tool: string, args: string[]) => runProgram(tool, args, { HOME: home });

  before(async () => {
    scenario = await startScenario(SPECS);
    ({ sshd, gh } = scenario);
    home = mkdtempSync(join(tmpdir(), 'gh-putty-home-'));
    work = mkdtempSync(join(tmpdir(), 'gh-putty-'));
    chmodSync(work, 0o777); // the target account writes here
    payload = randomBytes(300_000); // several SFTP requests and SSH packets each way
    writeFileSync(join(work, 'up.bin'), payload);
  });
  after(async () => {
    await scenario?.stop();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('plink -batch -pw runs a command on the target: its output and exit status; a normal exit is a logout', async () => {
    const n = gh.logs.length;
    const r = await putty('plink', [...common(`${sshd.user}@tgt`, ['-pw', SECRET]), '127.0.0.1', 'echo "$(id -un) plink-in"; exit 3']);
    assert.equal(r.stdout, `${sshd.user} plink-in\n`, r.stderr);
    assert.equal(r.code, 3);
    const methods = gh.logs.slice(n).filter((l) => l.event === 'auth.request').map((l) => l.method);
    assert.deepEqual(methods, ['keyboard-interactive']); // the password answered the Token prompt
    assert.ok(gh.logs.slice(n).some((l) => l.event === 'session.connect' && l.client === 'PuTTY_Release_0.78'));
    // PuTTY closes the connection without SSH_MSG_DISCONNECT once its channels are closed: still a logout.
    assert.equal(await closedReason(gh, n), 'logout');
    // ...which relies on private parts of ssh2 that Gatehouse checks on the first connection.
    assert.ok(!gh.logs.some((l) => l.event === 'ssh2.internals_missing'));
  });

  test('plink -batch with the answer in the user name (token=...@user@target): no prompt at all', async () => {
    const r = await putty('plink', [...common(`token=${SECRET}@${sshd.user}@tgt`), '127.0.0.1', 'echo pre-answered']);
    assert.equal(r.stdout, 'pre-answered\n', r.stderr);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stderr, /Token/);
  });

  test('plink -batch: a wrong password is refused; a host key other than the pinned one is not trusted', async () => {
    const wrong = await putty('plink', [...common(`${sshd.user}@tgt`, ['-pw', 'not-the-token']), '127.0.0.1', 'echo in']);
    assert.notEqual(wrong.code, 0);
    assert.equal(wrong.stdout, '');
    assert.match(wrong.stderr, /password was not accepted/);
    const pinned = fingerprint(join(sshd.dir, 'host_ed25519.pub'));
    const r = await runProgram('plink', ['-batch', '-P', String(gh.port), '-hostkey', pinned, '-l', `${sshd.user}@tgt`, '-pw', SECRET, '127.0.0.1', 'echo in'], { HOME: home });
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /host key/i);
  });

  test('plink at a terminal answers NEEDINFO prompts: the token unechoed, the PIN echoed', async () => {
    const t = new Terminal('plink', ['-P', String(gh.port), '-hostkey', gatehouseFingerprint(gh), '-l', `${sshd.user}@two`, '127.0.0.1', 'echo pty-in; exit 5'], { env: { HOME: home } });
    try {
      let at = await t.waitFor(/Token: /, 0, 30_000);
      t.type(`${SECRET}\r`);
      at = await t.waitFor(/PIN: /, at, 30_000);
      t.type(`${PIN}\r`);
      // After prompts shown at the terminal, PuTTY waits for Return so a server cannot fake its own messages.
      at = await t.waitFor(/Access granted\. Press Return to begin session\./, at, 30_000);
      t.type('\r');
      await t.waitFor(/pty-in/, at, 30_000);
      assert.equal(await t.exited, 5);
      assert.match(t.transcript, new RegExp(`PIN: ${PIN}`));
      assert.ok(!t.transcript.includes(SECRET), t.transcript);
    } finally {
      t.kill();
    }
  });

  test('plink -t: an interactive shell at a terminal, which follows a resize', async () => {
    const t = new Terminal('plink', [...common(`${sshd.user}@tgt`, ['-pw', SECRET, '-t']), '127.0.0.1'], { env: { HOME: home }, cols: 91, rows: 27 });
    try {
      let at = await t.waitFor(/\$ $/, 0, 30_000);
      t.type('stty size\r');
      at = await t.waitFor(/27 91/, at, 30_000);
      t.resize(120, 40);
      // The window change reaches the target's pty asynchronously: ask until it shows the new size.
      const deadline = Date.now() + 30_000;
      while (!/40 120/.test(t.transcript.slice(at))) {
        assert.ok(Date.now() < deadline, t.transcript);
        t.type('stty size\r');
        await new Promise((r) => setTimeout(r, 200));
      }
      t.type('exit 7\r');
      assert.equal(await t.exited, 7);
    } finally {
      t.kill();
    }
  });

  test('plink -N -L forwards a local port to the target side', async () => {
    const port = await freePort();
    // The forward leads to the target sshd's own port, so the first line read through it is its banner.
    const child = spawn('plink', [...common(`${sshd.user}@tgt`, ['-pw', SECRET, '-N', '-v', '-L', `127.0.0.1:${port}:127.0.0.1:${sshd.port}`]), '127.0.0.1'],
      { env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
    try {
      await gh.waitFor('plink listening', () => log.includes(`Local port 127.0.0.1:${port} forwarding`), 30_000);
      const banner = await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        let got = '';
        s.setTimeout(30_000, () => { s.destroy(); reject(new Error(`no banner; plink said:\n${log}`)); });
        s.on('data', (d: Buffer) => { got += d.toString(); if (got.includes('\n')) { s.destroy(); resolve(got.split('\r\n')[0]!); } });
        s.on('error', reject);
      });
      assert.match(banner, /^SSH-2\.0-OpenSSH_/);
    } finally {
      child.kill();
    }
  });

  for (const proto of ['-sftp', '-scp'] as const) {
    test(`pscp ${proto} uploads and downloads a file`, async () => {
      const remote = join(work, `remote${proto}.bin`);
      const back = join(work, `back${proto}.bin`);
      const up = await putty('pscp', [...common(`${sshd.user}@tgt`, ['-pw', SECRET, '-q', proto]), join(work, 'up.bin'), `127.0.0.1:${remote}`]);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(statSync(remote).uid, Number(execFileSync('id', ['-u', sshd.user]).toString()), 'written by the target account');
      const down = await putty('pscp', [...common(`${sshd.user}@tgt`, ['-pw', SECRET, '-q', proto]), `127.0.0.1:${remote}`, back]);
      assert.equal(down.code, 0, down.stderr);
      assert.ok(readFileSync(back).equals(payload));
    });
  }

  test('psftp -b runs a batch file: put, get, ls', async () => {
    const batch = join(work, 'batch.txt');
    writeFileSync(batch, [`put ${join(work, 'up.bin')} ${join(work, 'psftp.bin')}`, `get ${join(work, 'psftp.bin')} ${join(work, 'psftp-back.bin')}`, `ls ${work}`, ''].join('\n'));
    const r = await putty('psftp', [...common(`${sshd.user}@tgt`, ['-pw', SECRET, '-b', batch]), '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /psftp\.bin/);
    assert.ok(readFileSync(join(work, 'psftp-back.bin')).equals(payload));
  });
});
