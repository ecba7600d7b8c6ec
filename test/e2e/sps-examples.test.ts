import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { endedRow } from '../helpers/session-db.js';
import { FIXTURES } from '../helpers/paths.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { readJsonl } from '../helpers/jsonl.js';

// The Python examples of the SPS plugin documentation, run unchanged under Gatehouse through a real ssh
// login: the token example with its retry counter, the cookie hand-off whose session_ended prints the cookie,
// and what SPS documents for a plugin without authorize.

const NO_AUTHORIZE = readFileSync(join(FIXTURES, 'plugins', 'sps_cookie_example', 'main.py'), 'utf8')
  .replace(/    def authorize \(self\):\n        return \{'verdict': 'ACCEPT'\}\n\n/, '');

describe('the SPS documentation\'s Python examples', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let sessions = 0;
  const aliases = ['token', 'cookie', 'noauthz'].map((alias) => ({ alias }));
  const ssh = (alias: string, answers: string[]) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${alias}`, answers, command: 'id -un' });
  };
  const output = (sid: string) => gh.logs.filter((l) => l.event === 'plugin.output' && l.sid === sid).map((l) => l.msg);

  before(async () => {
    sshd = await startSshd();
    const policy = (alias: string, plugin: string) => ({
      name: alias,
      aa_plugin: { name: plugin },
      targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
      target_auth: { method: 'key' },
      host_key_check: { known_hosts: 'target_known_hosts' },
      usermapping: [{ server_user: sshd.user, gateway_users: ['username-received-from-third-party'] }],
    });
    gh = await startGatehouse({
      plugins: ['sps_token_example', 'sps_cookie_example'],
      policies: () => [policy('token', 'sps_token_example'), policy('cookie', 'sps_cookie_example'), policy('noauthz', 'no_authorize')],
      extra: () => ({ hosts: scenarioHosts(sshd, aliases) }),
      files: () => ({
        ...targetKnownHosts(sshd),
        'plugins/no_authorize/MANIFEST': 'name: no_authorize\ndescription: cookie example without authorize\nversion: 1.0\ntype: aa\napi: 1.0\nentry_point: main.py\n',
        'plugins/no_authorize/main.py': NO_AUTHORIZE,
      }),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
  });

  test('token example: wrong token, then "good"; session_ended prints the retry counter', async () => {
    const r = await ssh('token', ['bad', 'good']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), sshd.user);
    assert.deepEqual(r.prompts.map((p) => p.replace(/^\(.*?\) /, '')), ['Enter token number: ', 'Enter token number: ']);
    const closed = await gh.closedSessions(sessions);
    const sid = closed.at(-1)!.sid!;
    assert.deepEqual(output(sid), [`Session ended; session_id='${sid}', session_details='cnt=2'`]);
  });

  test('token example: three wrong tokens are denied; a result without cookie keeps the previous one (spec 11.14)', async () => {
    const r = await ssh('token', ['a', 'b', 'c', 'd']);
    assert.equal(r.code, 255);
    assert.equal(r.prompts.length, 3);
    assert.match(r.stderr, /Access denied\./);
    const sid = (await gh.closedSessions(sessions)).at(-1)!.sid!;
    // The DENY result carries no cookie, so the one returned with the last NEEDINFO is kept (spec 11.14).
    assert.deepEqual(output(sid), [`Session ended; session_id='${sid}', session_details='cnt=3'`]);
  });

  test('cookie hand-off: gateway user, additional_metadata, and the cookie printed by session_ended', async () => {
    const r = await ssh('cookie', ['T-1234']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.prompts[0]!, /Enter your token number: $/);
    const closed = await gh.closedSessions(sessions);
    const sid = closed.at(-1)!.sid!;
    assert.deepEqual(output(sid), [`Session ended; session_id='${sid}', session_details='client_ip=127.0.0.1'`]);
    const row = await endedRow(gh, sid);
    assert.equal(row.gateway_user, 'username-received-from-third-party');
    assert.deepEqual(row.additional_metadata, ['T-1234']);
  });

  test('without authorize, as SPS documents, the connection fails ("Calling Authorize hook of AA plugin failed")', async () => {
    const r = await ssh('noauthz', ['T-1']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /authentication service failed/);
    const closed = (await gh.closedSessions(sessions)).at(-1)!;
    assert.equal(closed.code, 'PLUGIN_HOOK_MISSING');
    assert.ok(gh.logs.some((l) => l.sid === closed.sid && l.msg === 'calling authorize hook of plugin failed'));
    assert.ok(gh.logs.some((l) => l.event === 'plugin.hooks_missing' && l['plugin'] === 'no_authorize'));
    assert.deepEqual(output(closed.sid!), [`Session ended; session_id='${closed.sid}', session_details='client_ip=127.0.0.1'`]);
  });
});
