import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PYRAD_DICTIONARY, startFreeRadius, type FreeRadius } from '../helpers/freeradius.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';

// A RADIUS MFA plugin on Gatehouse's safeguard.sessions.plugin using pyrad, against a real FreeRADIUS on
// loopback: accept, reject, and an Access-Challenge answered with echo off whose State travels to the next
// hook process in the cookie. The shared secret is `$` from config.yaml's local credential store (a file),
// the pyrad dictionary is config.yaml's sdk.radius_dictionary.

const SECRET = 'Radius-Shared-9931';
const aliases = ['radius', 'radius-chal'];

describe('an SDK-style RADIUS plugin (pyrad) against FreeRADIUS', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let radius: FreeRadius;
  let dir: string;
  let sessions = 0;
  const ssh = (alias: string, answers: string[]) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${alias}`, answers, command: 'id -un' });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-sdk-radius-'));
    writeFileSync(join(dir, 'dictionary'), PYRAD_DICTIONARY);
    writeFileSync(join(dir, 'radius.secret'), `${SECRET}\n`, { mode: 0o600 });
    sshd = await startSshd();
    radius = await startFreeRadius({
      accept: { [sshd.user]: 'Radius-OK-123' },
      challenge: { 'chal-id': { first: 'first-111', message: 'Enter the code from your token:', second: 'second-777' } },
    }, SECRET);
    const base = `[radius]\nserver = 127.0.0.1\nport = ${radius.port}\nsecret = $\nconn_timeout = 5\n[credential_store]\nname = local\n`;
    const configs: Record<string, string> = {
      radius: base,
      'radius-chal': `${base}[usermapping source=explicit]\n${sshd.user} = chal-id\n`,
    };
    gh = await startGatehouse({
      plugins: ['sdk_radius'],
      policies: () => aliases.map((alias) => ({
        name: alias,
        aa_plugin: { name: 'sdk_radius', configuration: configs[alias] },
        targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
        target_auth: { method: 'key' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      })),
      extra: () => ({
        hosts: scenarioHosts(sshd, aliases.map((alias) => ({ alias }))),
        sdk: {
          credential_stores: { local: [{ host: 'radius', user: 'secret', passwords: [{ file: join(dir, 'radius.secret') }] }] },
          radius_dictionary: join(dir, 'dictionary'),
        },
      }),
      files: () => targetKnownHosts(sshd),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await radius?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Access-Accept logs in', async () => {
    const r = await ssh('radius', ['Radius-OK-123']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.equal(r.prompts.length, 1);
    assert.match(radius.output(), /Sent Access-Accept/);
    assert.ok(!JSON.stringify(gh.logs).includes(SECRET), 'the shared secret reached the log');
  });

  test('Access-Reject denies with the reason shown', async () => {
    const r = await ssh('radius', ['wrong-000']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Authentication failed/);
    assert.match(radius.output(), /Sent Access-Reject/);
  });

  test('Access-Challenge: the server\'s question, echo off, State kept in the cookie across hook processes', async () => {
    const t = new Terminal('ssh', ['-F', '/dev/null', '-tt', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-l', `${sshd.user}@radius-chal`, '127.0.0.1', 'echo radius-in']);
    sessions++;
    try {
      let at = await t.waitFor(/one-time password: /);
      t.type('first-111\r');
      at = await t.waitFor(/Enter the code from your token: /, at);
      t.type('second-777\r');
      await t.waitFor(/radius-in/, at);
      assert.ok(!t.transcript.includes('second-777'), `the challenge answer was echoed:\n${t.transcript}`);
    } finally {
      t.kill();
    }
    assert.match(radius.output(), /Sent Access-Challenge/);
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    const verdicts = gh.logs.filter((l) => l.sid === sid && l.event === 'hook.call' && l['hook'] === 'authenticate').map((l) => l['verdict']);
    assert.deepEqual(verdicts, ['NEEDINFO', 'NEEDINFO', 'ACCEPT']);
  });

  test('a challenge answered wrongly is rejected', async () => {
    const r = await ssh('radius-chal', ['first-111', 'nope']);
    assert.equal(r.code, 255);
    assert.equal(r.prompts.length, 2);
    assert.match(r.stderr, /Authentication failed/);
  });
});
