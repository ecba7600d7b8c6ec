import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse, LogLine } from '../helpers/gatehouse.js';
import { runScp, runSftp, runSsh } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';

// Least privilege per policy (`channels:`), with the real OpenSSH ssh, scp and sftp: each rule refuses what it
// should, as sshd refuses a request (OpenSSH prints "... request failed on channel 0"), logged with its rule,
// and lets the rest through.

const SPECS: PolicySpec[] = [
  { alias: 'noshell', plugin: {}, more: { channels: { shell: false } } },
  { alias: 'cmds', plugin: {}, more: { channels: { shell: false, exec: ['echo *', 'uptime'] } } },
  { alias: 'nosftp', plugin: {}, more: { channels: { subsystems: [] } } },
  { alias: 'noscp', plugin: {}, more: { channels: { scp: false } } },
  { alias: 'nopty', plugin: {}, more: { channels: { pty: false } } },
  { alias: 'envs', plugin: {}, more: { channels: { env: ['LC_*'] } } },
];

describe('channel rules per policy', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  let work: string;
  const login = (alias: string) => `token=good@${sshd.user}@${alias}`;
  const ssh = (alias: string, command: string | undefined, extra: { options?: string[]; stdin?: string } = {}) =>
    runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(alias), ...(command !== undefined ? { command } : {}), ...extra });
  const denied = (from: number): LogLine[] => gh.logs.slice(from).filter((l) => l.event === 'channel.denied');

  before(async () => {
    scenario = await startScenario(SPECS, { sshdConfig: ['AcceptEnv LC_* BAR_VAR'] });
    ({ sshd, gh } = scenario);
    work = mkdtempSync(join(tmpdir(), 'gh-rules-'));
    chmodSync(work, 0o777); // the target account writes here
    writeFileSync(join(work, 'local.txt'), 'payload\n');
  });
  after(async () => {
    await scenario?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('shell: false refuses the shell; commands still run', async () => {
    const n = gh.logs.length;
    const r = await ssh('noshell', undefined, { stdin: 'echo in-shell\n' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /shell request failed on channel 0/);
    assert.doesNotMatch(r.stdout, /in-shell/);
    assert.deepEqual(denied(n).map((l) => [l.request, l.rule, l.policy]), [['shell', 'channels.shell', 'noshell']]);
    assert.equal((await ssh('noshell', 'echo fine')).stdout, 'fine\n');
  });

  test('exec patterns: matching commands run; others, and a chained command, are refused', async () => {
    const n = gh.logs.length;
    assert.equal((await ssh('cmds', 'echo hello world')).stdout, 'hello world\n');
    for (const command of ['id', 'echo hi; id', 'echo $(id)']) {
      const r = await ssh('cmds', command);
      assert.equal(r.code, 255, command);
      assert.match(r.stderr, /exec request failed on channel 0/);
      assert.doesNotMatch(r.stdout, /uid=/);
    }
    assert.deepEqual(denied(n).map((l) => [l.rule, l.command]), [['channels.exec', 'id'], ['channels.exec', 'echo hi; id'], ['channels.exec', 'echo $(id)']]);
  });

  test('subsystems: [] refuses sftp (and scp, which uses sftp by default); legacy scp still works', async () => {
    const n = gh.logs.length;
    const sftp = await runSftp({ port: gh.port, knownHosts: gh.knownHosts, login: login('nosftp'), commands: `ls ${work}\n` });
    assert.notEqual(sftp.code, 0);
    assert.match(sftp.stderr, /subsystem request failed on channel 0|Connection closed/); // sftp -q hides ssh's line
    const direct = await ssh('nosftp', 'sftp', { options: ['-s'], stdin: '' });
    assert.match(direct.stderr, /subsystem request failed on channel 0/);
    const scp = await runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login('nosftp'), from: join(work, 'local.txt'), to: `127.0.0.1:${work}/a.txt` });
    assert.notEqual(scp.code, 0);
    assert.equal(existsSync(join(work, 'a.txt')), false);
    assert.deepEqual(denied(n).map((l) => [l.request, l.rule, l.name]), Array(3).fill(['subsystem', 'channels.subsystems', 'sftp']));
    const legacy = await runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login('nosftp'), from: join(work, 'local.txt'), to: `127.0.0.1:${work}/b.txt`, options: ['-O'] });
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.equal(readFileSync(join(work, 'b.txt'), 'utf8'), 'payload\n');
  });

  test('scp: false refuses the scp protocol both ways; sftp and commands work', async () => {
    const n = gh.logs.length;
    const up = await runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login('noscp'), from: join(work, 'local.txt'), to: `127.0.0.1:${work}/c.txt`, options: ['-O'] });
    assert.notEqual(up.code, 0);
    assert.equal(existsSync(join(work, 'c.txt')), false);
    const down = await runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login('noscp'), from: `127.0.0.1:${work}/local.txt`, to: join(work, 'd.txt'), options: ['-O'] });
    assert.notEqual(down.code, 0);
    assert.equal(existsSync(join(work, 'd.txt')), false);
    assert.deepEqual(denied(n).map((l) => l.rule), ['channels.scp', 'channels.scp']);
    const sftp = await runSftp({ port: gh.port, knownHosts: gh.knownHosts, login: login('noscp'), commands: `put ${join(work, 'local.txt')} ${work}/e.txt\n` });
    assert.equal(sftp.code, 0, sftp.stderr);
    assert.equal(readFileSync(join(work, 'e.txt'), 'utf8'), 'payload\n');
  });

  test('pty: false refuses the terminal as sshd does: fatal where forced (-tt), else the shell runs without one', async () => {
    const n = gh.logs.length;
    const forced = await ssh('nopty', 'tty', { options: ['-tt'] });
    assert.notEqual(forced.code, 0);
    assert.match(forced.stderr, /PTY allocation request failed on channel 0/);
    // From a terminal, as a person logs in: OpenSSH carries on without a terminal.
    const t = new Terminal('ssh', [
      '-F', '/dev/null', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PubkeyAuthentication=no', '-l', login('nopty'), '127.0.0.1',
    ]);
    try {
      await t.waitFor(/PTY allocation request failed on channel 0/);
      t.type('tty; exit\n');
      await t.waitFor(/not a tty/);
      assert.equal(await t.exited, 1);
    } finally {
      t.kill();
    }
    assert.deepEqual(denied(n).map((l) => l.rule), ['channels.pty', 'channels.pty']);
  });

  test('env names: allowed ones reach the target, others are dropped and logged', async () => {
    const n = gh.logs.length;
    const r = await ssh('envs', 'echo "[$LC_GH_TEST][$BAR_VAR]"', { options: ['-o', 'SetEnv=LC_GH_TEST=one BAR_VAR=two'] });
    assert.equal(r.stdout, '[one][]\n', r.stderr);
    assert.deepEqual(denied(n).map((l) => [l.request, l.rule, l.name]), [['env', 'channels.env', 'BAR_VAR']]);
    // Without a channels: section, the same variables pass.
    const all = await ssh('noshell', 'echo "[$LC_GH_TEST][$BAR_VAR]"', { options: ['-o', 'SetEnv=LC_GH_TEST=one BAR_VAR=two'] });
    assert.equal(all.stdout, '[one][two]\n', all.stderr);
  });
});
