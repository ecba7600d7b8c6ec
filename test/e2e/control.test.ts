import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log/logger.js';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { CLI } from '../helpers/paths.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// Administrators see and end live sessions of a running Gatehouse with `gatehouse sessions` and
// `gatehouse terminate ID`, through a Unix socket only Gatehouse's own account may use.

const SECRET = 'S3cret-Answer-71';

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('control socket: gatehouse sessions and terminate', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  let running: ReturnType<typeof runSsh> | undefined;
  let sid = '';

  before(async () => {
    scenario = await startScenario([{ alias: 'tgt', plugin: { expect: { token: SECRET } } }]);
    ({ sshd, gh } = scenario);
    // A logged-in user, with the answer to the plugin's question pre-given in the user name.
    running = runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=${SECRET}@${sshd.user}@tgt`, command: 'sleep 300', timeoutMs: 120_000 });
    await gh.waitFor('the session to be active', () => gh.logs.some((l) => l.event === 'session.active'));
    sid = gh.logs.find((l) => l.event === 'session.active')!.sid!;
  });
  after(async () => {
    await scenario?.stop();
    await running;
  });

  test('the socket is for Gatehouse\'s own account only (mode 0600)', () => {
    const path = gh.app.runtime().config.controlSocket;
    assert.ok(statSync(path).isSocket());
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('gatehouse sessions lists who is connected where, and never the answers given', async () => {
    const r = await cli('sessions', '--config', gh.configFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^SESSION +PHASE +CLIENT +POLICY +SERVER USER@TARGET/);
    const line = r.stdout.split('\n').find((l) => l.startsWith(sid));
    assert.ok(line, r.stdout);
    assert.match(line, new RegExp(` active +127\\.0\\.0\\.1:\\d+ +tgt +${sshd.user}@tgt:${sshd.port} `));
    assert.ok(!r.stdout.includes(SECRET));

    const json = await cli('sessions', '--config', gh.configFile, '--json');
    const sessions = JSON.parse(json.stdout) as Record<string, unknown>[];
    const s = sessions.find((x) => x['session_id'] === sid);
    assert.equal(s?.['server_user'], sshd.user);
    assert.equal(s?.['target'], `tgt:${sshd.port}`);
    assert.equal(s?.['policy'], 'tgt');
    assert.equal(typeof s?.['idle_seconds'], 'number');
    assert.ok(!json.stdout.includes(SECRET));
  });

  test('unknown session, or no Gatehouse running with that configuration: a clear error and exit 1', async () => {
    const unknown = await cli('terminate', 'no-such-session', '--config', gh.configFile);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no session no-such-session/);

    const dir = mkdtempSync(join(tmpdir(), 'gh-control-'));
    try {
      writeFileSync(join(dir, 'config.yaml'), 'listen: ["127.0.0.1:0"]\npolicies:\n  - name: p\n    target: {host: 127.0.0.1, port: 22}\n    target_auth: {method: password}\n');
      const none = await cli('sessions', '--config', join(dir, 'config.yaml'));
      assert.equal(none.code, 1);
      assert.match(none.stderr, /control\.sock: no Gatehouse is running with this configuration/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Starts a second Gatehouse on the same folder (so the same state_dir), with more config.yaml lines. */
  async function startSecond(moreYaml = ''): Promise<void> {
    const file = join(gh.dir, 'second.yaml');
    writeFileSync(file, `${readFileSync(gh.configFile, 'utf8')}${moreYaml}`);
    const second = await createApp(loadConfigFile(file), createLogger('fatal', new Writable({ write: (_c, _e, cb) => cb() })));
    try {
      await second.start();
    } finally {
      await second.stop(1_000);
    }
  }

  test('a second Gatehouse on the same state_dir does not take the socket over', async () => {
    await assert.rejects(startSecond(), (err: unknown) => err instanceof BastionError && err.code === 'CONTROL_SOCKET_IN_USE' && /control\.sock/.test(err.message));
    assert.equal((await cli('sessions', '--config', gh.configFile)).code, 0, 'the first one still answers');
  });

  test('a control_socket path that is a file, or in a folder others may write to, is refused and left alone', async () => {
    const file = join(gh.dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await assert.rejects(startSecond(`control_socket: ${file}\n`), /not-a-socket exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
    const open = join(gh.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(startSecond(`control_socket: ${join(open, 'c.sock')}\n`), /which other accounts may write to/);
  });

  test('null, garbage and endless requests get an error, and Gatehouse keeps serving', async () => {
    const send = (text: string): Promise<string> => new Promise((resolve) => {
      const s = connect(gh.app.runtime().config.controlSocket, () => s.write(text));
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => { got += d; });
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });
    assert.match(await send('null\n'), /"ok":false,"error":"a request is a JSON object"/);
    assert.match(await send('{"command": 1}\n'), /"ok":false,"error":"unknown command 1"/);
    assert.match(await send('this is not json\n'), /"ok":false,"error":"not JSON"/);
    assert.match(await send('x'.repeat(10_000)), /"ok":false,"error":"request too long"/);
    assert.equal((await cli('sessions', '--config', gh.configFile)).code, 0);
  });

  test('gatehouse terminate ends the session: the user reads why, session_ended runs', async () => {
    const r = await cli('terminate', sid, '--config', gh.configFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^terminated ${sid} \\(${sshd.user}@tgt:${sshd.port} from 127\\.0\\.0\\.1:\\d+\\)\\n$`));
    const client = await running!;
    assert.equal(client.code, 255);
    assert.match(client.stderr, /Received disconnect from 127\.0\.0\.1 port \d+:11: Session terminated by an administrator\./);
    await gh.waitFor('the session to close', () => gh.logs.some((l) => l.event === 'session.closed' && l.sid === sid));
    const closed = gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid)!;
    assert.equal(closed['reason'], 'terminated');
    assert.equal(closed.code, 'TERMINATED');
    await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === sid));
    assert.ok(gh.logs.some((l) => l.event === 'control.terminate' && l.sid === sid));
  });
});
