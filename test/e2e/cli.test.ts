import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { runSsh } from '../helpers/openssh.js';
import { CLI, FIXTURES, ROOT } from '../helpers/paths.js';
import { connectClient } from '../helpers/ssh2-client.js';
import { freePort } from '../helpers/sshd.js';

// The shipped config.yaml run as `gatehouse serve` in a child process: the README's first steps (demo plugin,
// demo target), reload on SIGHUP that keeps the old config when the new one is bad, and SIGTERM draining
// every live session with session_ended before exit.

interface Line { event?: string; msg?: string; sid?: string; hook?: string; port?: number; [k: string]: unknown }

describe('gatehouse serve with the shipped config.yaml', () => {
  let dir: string;
  let child: ChildProcess;
  const logs: Line[] = [];
  let port: number;
  let demoPort: number;
  let configText: string;
  let exited: Promise<number | null>;
  const waitLog = async (pred: (l: Line) => boolean, what: string, timeoutMs = 15_000): Promise<Line> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = logs.find(pred);
      if (l) return l;
      if (Date.now() > deadline) throw new Error(`no log line for ${what}; got:\n${logs.map((x) => JSON.stringify(x)).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const demoSsh = (token: string, command: string) =>
    runSsh({ port, knownHosts: join(dir, 'known_hosts'), login: 'demo@demo', answers: [token], command });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
    cpSync(join(ROOT, 'plugins', 'demo_token'), join(dir, 'plugins', 'demo_token'), { recursive: true });
    port = await freePort();
    demoPort = await freePort();
    configText = readFileSync(join(ROOT, 'config.yaml'), 'utf8')
      .replace('0.0.0.0:2222', `127.0.0.1:${port}`)
      .replaceAll('2022', String(demoPort));
    writeFileSync(join(dir, 'config.yaml'), configText);
    // With the soft open-file limit many distributions give services, which start-up warns about.
    child = spawn('sh', ['-c', 'ulimit -n 1024 && exec "$0" "$@"', process.execPath, CLI, 'serve', '--config', join(dir, 'config.yaml')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // 'close', not 'exit': the log lines still in the pipe when the process exits are read by then.
    exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
    createInterface({ input: child.stdout! }).on('line', (l) => logs.push(JSON.parse(l) as Line));
    await waitLog((l) => l.event === 'server.listening', 'listening');
    const hostKey = readFileSync(join(dir, 'keys', 'host_ed25519.pub'), 'utf8').trim();
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
  });
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('ssh demo@demo@gatehouse reaches the sandboxed demo target after the token question', async () => {
    const r = await demoSsh('gatehouse', 'whoami; hostname; ls /etc; uname -a');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'demo\ndemo\nREADME.txt  motd\nGatehouse-Demo demo 1.0 sandbox\n');
    assert.equal(r.prompts.length, 1);
    assert.match(r.prompts[0]!, /Demo token \(hint: gatehouse\): $/);
    await waitLog((l) => l.event === 'plugin.output' && /^Session ended; session_id='[0-9a-f-]+', session_details='accepted_after=1,cnt=1'$/.test(String(l.msg)), 'session_ended output');
  });

  test('a low open-file limit is reported at start-up with the number of sessions it allows and the fix', async () => {
    const warning = await waitLog((l) => l.event === 'process.file_limit', 'file limit warning');
    assert.equal(warning['limit'], 1024);
    assert.equal(warning['sessions'], 480);
    assert.match(String(warning.msg), /LimitNOFILE/);
  });

  test('the demo shell runs no real program', async () => {
    const r = await demoSsh('gatehouse', 'cat /etc/passwd; sh -c id');
    assert.equal(r.code, 127);
    assert.doesNotMatch(r.stdout, /root:/);
    assert.match(r.stdout, /command not found/);
  });

  test('SIGHUP with a broken config.yaml keeps the old configuration; a good one is applied', async () => {
    writeFileSync(join(dir, 'config.yaml'), configText.replace('log_level: info', 'log_level: info\nbogus_key: 1'));
    child.kill('SIGHUP');
    const failed = await waitLog((l) => l.event === 'config.reload_failed', 'reload failure');
    assert.match(JSON.stringify(failed), /config\.yaml:\d+: bogus_key: unknown key/);
    assert.equal((await demoSsh('gatehouse', 'whoami')).code, 0, 'the old configuration still serves');

    writeFileSync(join(dir, 'config.yaml'), configText.replace('token = gatehouse', 'token = rotated'));
    child.kill('SIGHUP');
    await waitLog((l) => l.event === 'config.reloaded', 'reload');
    assert.equal((await demoSsh('rotated', 'whoami')).code, 0);
    assert.equal((await demoSsh('gatehouse', 'whoami')).code, 255);
    assert.ok(!logs.some((l) => l.event === 'config.restart_needed'));

    // Settings the listening server was built with are not changed by a reload, and the log says so.
    writeFileSync(join(dir, 'config.yaml'), `${configText.replace('token = gatehouse', 'token = rotated')}\nssh:\n  client_alive_interval: 5\n`);
    child.kill('SIGHUP');
    await waitLog((l) => l.event === 'config.restart_needed', 'restart-needed warning');
  });

  test('SIGTERM ends every session, running session_ended for each, then exits', async () => {
    // One session in a shell, one stuck at the token question.
    const active = await connectClient(port, 'demo@demo', ['rotated']);
    await new Promise<void>((resolve, reject) => active.shell((err) => (err ? reject(err) : resolve())));
    const pending = new ssh2.Client();
    const asked = new Promise<void>((resolve) => pending.on('keyboard-interactive', () => resolve()));
    pending.on('error', () => undefined);
    pending.connect({ host: '127.0.0.1', port, username: 'demo@demo', tryKeyboard: true, hostVerifier: () => true });
    await asked;
    const sids = logs.filter((l) => l.event === 'session.connect').slice(-2).map((l) => l.sid);
    assert.equal(sids.length, 2);

    const activeClosed = new Promise<void>((resolve) => active.once('close', () => resolve()));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await activeClosed;
    for (const sid of sids) {
      const ended = logs.filter((l) => l.sid === sid && l.event === 'hook.call' && l.hook === 'session_ended');
      assert.equal(ended.length, 1, `session_ended for ${sid}`);
      assert.ok(logs.some((l) => l.sid === sid && l.event === 'session.closed' && l['reason'] === 'shutdown'));
    }
    assert.ok(logs.some((l) => l.event === 'shutdown.done' && l['drained'] === true));
    pending.end();
  });
});

describe('gatehouse plugin check', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

  test('a good plugin: its type, runtime and the hooks Gatehouse will call, exit 0', () => {
    const js = cli('plugin', 'check', join(ROOT, 'plugins', 'demo_token'));
    assert.equal(js.status, 0, js.stderr);
    assert.match(js.stdout, /^demo_token 1\.0\.0: AA plugin, plugin API 1\.2, javascript\nhooks: authenticate, authorize, session_ended\nok\n$/);
    const py = cli('plugin', 'check', join(FIXTURES, 'plugins', 'sps_token_example'));
    assert.equal(py.status, 0, py.stderr);
    assert.match(py.stdout, /AA plugin, plugin API 1\.0, python/);
  });

  test('a broken plugin: every reason, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-check-'));
    try {
      mkdirSync(join(dir, 'broken'));
      writeFileSync(join(dir, 'broken', 'MANIFEST'), 'name: broken\ndescription: x\nversion: v1\ntype: aa\napi: 2.0\n');
      const r = cli('plugin', 'check', join(dir, 'broken'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /"version" "v1" must start with a digit/);
      assert.match(r.stderr, /"api" 2\.0 is not supported/);
      writeFileSync(join(dir, 'broken', 'MANIFEST'), 'name: broken\ndescription: x\nversion: 1\ntype: aa\napi: 1.0\n');
      writeFileSync(join(dir, 'broken', 'main.py'), 'class Plugin:\n    def authorize(self):\n        return None\n');
      const noAuth = cli('plugin', 'check', join(dir, 'broken'));
      assert.equal(noAuth.status, 1);
      assert.match(noAuth.stderr, /has no authenticate method/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
