import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { targetKnownHosts } from '../helpers/scenario.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// The plugin author's live loop (config `watch: true`): an edit to a plugin reaches the next real ssh login
// with no signal sent and no restart; an edit that does not load is logged with the file and line while the
// last good version keeps serving; a session open across the edit keeps its version for session_ended. The
// plugin is an ES-module main.js with no package.json, loaded through Node's syntax detection.

const version = (v: string, extra = '') => `// live-code fixture, ${v}
export class Plugin {
  authenticate({ key_value_pairs }) {
    if (key_value_pairs.token === 'good') return { verdict: 'ACCEPT' };
    return { verdict: 'NEEDINFO', question: ['token', 'Token ${v}: ', true] };
  }
  authorize() { return { verdict: 'ACCEPT' }; }
  session_ended({ session_id }) { console.log('${v} ended ' + session_id); }
}
${extra}`;

describe('live code: plugins_dir is watched', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let shared: string;
  const main = () => join(gh.dir, 'plugins', 'live', 'main.js');
  const events = (event: string) => gh.logs.filter((l) => l.event === event);
  const login = (command = 'id -un', timeoutMs?: number) =>
    runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@live`, answers: ['good'], command, ...(timeoutMs ? { timeoutMs } : {}) });
  const prompt = (r: { prompts: string[] }) => r.prompts.map((p) => p.replace(/^\(.*?\) /, ''));

  before(async () => {
    sshd = await startSshd();
    // The target account waits on a file in here to end the long session.
    shared = mkdtempSync(join(tmpdir(), 'gh-live-'));
    chmodSync(shared, 0o777);
    gh = await startGatehouse({
      policies: () => [{
        name: 'live',
        aa_plugin: { name: 'live' },
        targets: { allow: [{ hosts: ['live'], ports: [sshd.port] }] },
        target_auth: { method: 'key' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      }],
      extra: () => ({ watch: true, hosts: { live: `127.0.0.1:${sshd.port}` } }),
      files: () => ({
        ...targetKnownHosts(sshd),
        'plugins/live/MANIFEST': 'name: live\ndescription: live-code fixture\nversion: 1.0.0\ntype: aa\napi: 1.2\n',
        'plugins/live/main.js': version('v1'),
      }),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  test('an edit changes the next login\'s prompt; a broken edit keeps the last good version; an open session keeps its own', async () => {
    await gh.waitFor('the watch to start', () => events('watch.start').length === 1);
    const first = await login();
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(prompt(first), ['Token v1: ']);

    // A session that stays open across the edits, until the test creates the release file.
    const release = join(shared, 'release');
    const long = login(`while [ ! -e ${release} ]; do sleep 0.2; done; echo released`, 180_000);
    await gh.waitFor('the long session to be active', () => events('session.active').length === 2, 60_000);
    const longSid = events('session.active')[1]!.sid!;

    writeFileSync(main(), version('v2'));
    await gh.waitFor('the reload after the edit', () => events('config.reloaded').length === 1, 60_000);
    assert.equal(events('config.reloaded')[0]!['trigger'], 'watch');
    const second = await login();
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(prompt(second), ['Token v2: ']);

    // A change to the configuration alone reloads it, but not the plugin, whose files did not change.
    const loads = () => gh.logs.filter((l) => l.event === 'plugin.loaded' && l['plugin'] === 'live').length;
    assert.equal(loads(), 2);
    writeFileSync(gh.configFile, `${readFileSync(gh.configFile, 'utf8')}# edited\n`);
    await gh.waitFor('the reload after the config edit', () => events('config.reloaded').length === 2, 60_000);
    assert.equal(loads(), 2, 'an unchanged plugin was loaded again');

    // Line 3 no longer parses.
    writeFileSync(main(), version('v3').replace("authenticate({ key_value_pairs }) {", 'authenticate({ key_value_pairs ) {'));
    await gh.waitFor('the failed reload', () => events('config.reload_failed').length === 1, 60_000);
    const failed = events('config.reload_failed')[0]!;
    const message = (failed['err'] as { message: string }).message;
    assert.match(message, new RegExp(`${main().replace(/[.]/g, '\\.')}:3\\b`), message);
    assert.match(message, /SyntaxError/);
    const third = await login();
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(prompt(third), ['Token v2: '], 'the last good version keeps serving');

    writeFileSync(release, '');
    const done = await long;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout.trim(), 'released');
    await gh.waitFor('session_ended of the long session', () => gh.logs.some((l) => l.event === 'plugin.output' && l.sid === longSid));
    const said = gh.logs.filter((l) => l.event === 'plugin.output' && l.sid === longSid).map((l) => l.msg);
    assert.deepEqual(said, [`v1 ended ${longSid}`], 'the session open across the edit ran session_ended of the version it started with');
  });
});
