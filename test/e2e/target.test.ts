import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateEd25519 } from '../../src/ssh2x/keygen.js';
import { startGatehouse, type Gatehouse, type LogLine } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, scenarioPolicies, type PolicySpec } from '../helpers/scenario.js';
import { freePort, startSshd, TEST_USER_PASSWORD, type Sshd } from '../helpers/sshd.js';

// The target side: Gatehouse logs in to the target before it accepts the client, so an unreachable target,
// a host key that does not match, or a refused target login reaches the user as a clear message.

const TOKEN = 'good';

describe('target connection', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let downPort: number;
  let silent: Server;
  let silentPort: number;
  let sessions = 0;
  const specs = (): PolicySpec[] => [
    { alias: 'ok', plugin: {} },
    { alias: 'down', plugin: {}, port: downPort },
    { alias: 'silent', plugin: {}, port: silentPort },
    { alias: 'mismatch', plugin: {}, hostKeyCheck: { known_hosts: 'wrong_known_hosts', policy: 'strict' } },
    { alias: 'unknown', plugin: {}, hostKeyCheck: { known_hosts: 'empty_known_hosts', policy: 'strict' } },
    { alias: 'mismatch-accept-new', plugin: {}, hostKeyCheck: { known_hosts: 'wrong_known_hosts', policy: 'accept-new' } },
    { alias: 'accept-new', plugin: {}, hostKeyCheck: { known_hosts: 'learned_known_hosts', policy: 'accept-new' } },
    { alias: 'pw', plugin: {}, targetAuth: { method: 'password' } },
    { alias: 'pw-only', targetAuth: { method: 'password' } },
    { alias: 'broken-known-hosts', plugin: {}, hostKeyCheck: { known_hosts: 'a_directory', policy: 'strict' } },
  ];
  const ssh = (login: string, answers: string[] = [TOKEN], options: string[] = []) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login, answers, command: 'id -un', options });
  };
  const closedLine = async (alias: string): Promise<LogLine> =>
    (await gh.closedSessions(sessions)).filter((l) => l['policy'] === alias).at(-1)!;

  before(async () => {
    sshd = await startSshd({ password: true });
    downPort = await freePort();
    // Accepts TCP but never speaks SSH: only the connect deadline ends the wait.
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
    const wrongKey = generateEd25519('test').public.split(' ').slice(0, 2).join(' ');
    const right = `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n`;
    gh = await startGatehouse({
      plugins: ['scripted'],
      policies: (ctx) => [
        ...scenarioPolicies(ctx, sshd, specs()),
        {
          name: 'fixed',
          aa_plugin: { name: 'scripted', configuration: JSON.stringify({ record: ctx.callsFile }) },
          target: { host: '127.0.0.1', port: sshd.port },
          target_auth: { method: 'key' },
          host_key_check: { known_hosts: 'target_known_hosts' },
        },
      ],
      extra: () => ({ hosts: scenarioHosts(sshd, specs()), timeouts: { target_connect: 2 } }),
      files: () => ({
        target_known_hosts: right,
        wrong_known_hosts: `[127.0.0.1]:${sshd.port} ${wrongKey}\n`,
        empty_known_hosts: '',
        'a_directory/placeholder': '',
      }),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    silent?.close();
  });

  test('a working target, for reference', async () => {
    const r = await ssh(`${sshd.user}@ok`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    const line = gh.logs.find((l) => l.event === 'target.connect')!;
    assert.equal(line['address'], '127.0.0.1');
    assert.equal(typeof line['ms'], 'number');
  });

  test('a fixed-target policy serves a plain user name', async () => {
    const r = await ssh(sshd.user);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
  });

  test('target down: clear message, session_ended once', async () => {
    const r = await ssh(`${sshd.user}@down`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, new RegExp(`The server down:${downPort} is not reachable right now\\.`));
    const closed = await closedLine('down');
    assert.equal(closed.code, 'TARGET_UNREACHABLE');
    assert.equal(gh.calls('session_ended').filter((c) => c.session_id === closed.sid).length, 1);
  });

  test('a target that never answers is given up at the connect deadline', async () => {
    const r = await ssh(`${sshd.user}@silent`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /is not reachable right now/);
    assert.ok(r.ms < 8000, `took ${r.ms} ms`);
    assert.equal((await closedLine('silent')).code, 'TARGET_UNREACHABLE');
  });

  test('host-key mismatch: refused with a clear message, even under accept-new', async () => {
    for (const alias of ['mismatch', 'mismatch-accept-new']) {
      const r = await ssh(`${sshd.user}@${alias}`);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /does not match the one Gatehouse has on record/);
      const closed = await closedLine(alias);
      assert.equal(closed.code, 'TARGET_HOSTKEY_MISMATCH');
      assert.equal(gh.calls('session_ended').filter((c) => c.session_id === closed.sid).length, 1);
    }
  });

  test('unknown host key under strict: refused', async () => {
    const r = await ssh(`${sshd.user}@unknown`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /is not known to Gatehouse/);
    assert.equal((await closedLine('unknown')).code, 'TARGET_HOSTKEY_UNKNOWN');
  });

  test('accept-new records the first key and then holds the target to it', async () => {
    const file = join(gh.dir, 'learned_known_hosts');
    assert.ok(!existsSync(file));
    const r = await ssh(`${sshd.user}@accept-new`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(file, 'utf8'), new RegExp(`^\\[accept-new\\]:${sshd.port} ${sshd.hostKeyLine.replace(/[+/]/g, '\\$&')}`, 'm'));
    const again = await ssh(`${sshd.user}@accept-new`);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
  });

  test('target password asked with echo off after the plugin, retried after a wrong one, never logged', async () => {
    const r = await ssh(`${sshd.user}@pw`, [TOKEN, 'Not-The-Password-5', TEST_USER_PASSWORD]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.equal(r.prompts.length, 3);
    assert.match(r.prompts[1]!, new RegExp(`${sshd.user}@pw's password: $`));
    assert.match(r.prompts[2]!, new RegExp(`${sshd.user}@pw's password: $`));
    await gh.closedSessions(sessions);
    const text = JSON.stringify(gh.logs);
    assert.ok(!text.includes(TEST_USER_PASSWORD) && !text.includes('Not-The-Password-5'));
  });

  test('an unforeseen failure (known_hosts is a directory) refuses that login with INTERNAL and logs the error', async () => {
    const r = await ssh(`${sshd.user}@broken-known-hosts`);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Gatehouse could not complete the login; please try again later\./);
    const closed = await closedLine('broken-known-hosts');
    assert.equal(closed.code, 'INTERNAL');
    assert.ok(gh.logs.some((l) => l.sid === closed.sid && l.event === 'login.internal_error' && /EISDIR/.test(JSON.stringify(l['err']))));
    assert.equal(gh.calls('session_ended').filter((c) => c.session_id === closed.sid).length, 1);
    assert.equal((await ssh(`${sshd.user}@ok`)).code, 0);
  });

  test('without a plugin the target password is the only proof, and a password client gives it directly', async () => {
    const r = await ssh(`${sshd.user}@pw-only`, [TEST_USER_PASSWORD], ['-o', 'PreferredAuthentications=password']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.prompts.length, 1);
    const wrong = await ssh(`${sshd.user}@pw-only`, ['a', 'b', 'c']);
    assert.equal(wrong.code, 255);
    assert.match(wrong.stderr, /could not log in to pw-only/);
    assert.equal((await closedLine('pw-only')).code, 'TARGET_AUTH_FAILED');
  });
});
