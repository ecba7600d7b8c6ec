import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse, LogLine } from '../helpers/gatehouse.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// A client that stops answering (laptop lid shut, network gone, process frozen) must not hold a session, a
// target login and two sockets forever: as OpenSSH's ClientAliveInterval / ClientAliveCountMax, Gatehouse
// asks every interval and ends the session after count_max questions without an answer, and session_ended runs.
// The same towards a target that stops answering (ServerAliveInterval), and the user is told why. A policy's
// idle_timeout ends a session without data either way; shutdown tells logged-in users too.
// A frozen process (SIGSTOP) is such a peer: its kernel still acknowledges TCP, but nothing answers SSH.

const IDLE_SPECS: PolicySpec[] = [
  { alias: 'tgt', plugin: {} },
  { alias: 'idle', plugin: {}, more: { idle_timeout: 3 } },
  // A login that takes longer than the idle timeout (authorize answers after 5 s).
  { alias: 'idle-slow', plugin: { fail: { hook: 'authorize', how: 'slow', ms: 5_000 } }, more: { idle_timeout: 3 } },
];

/** TCP connections on Gatehouse's port whose socket this process (where Gatehouse runs) still holds open. */
function heldSockets(port: number): string[] {
  const open = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) open.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // /proc/net/tcp: sl local_address rem_address st ... inode (10th field); state 0A is LISTEN.
  return ['/proc/net/tcp', '/proc/net/tcp6'].filter((f) => existsSync(f)).flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[1]!.endsWith(hexPort) && f[3] !== '0A' && open.has(f[9]!))
    .map((f) => f.join(' '));
}

/** Every process below `pid` (sshd's processes for its connections). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, ppid] of parent) {
      if ((ppid === pid || out.includes(ppid)) && !out.includes(child)) {
        out.push(child);
        grew = true;
      }
    }
  }
  return out;
}

const signal = (pids: readonly number[], sig: NodeJS.Signals): void => {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
};

describe('alive checks', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const login = (alias = 'tgt'): string => `token=good@${sshd.user}@${alias}`;
  /** The session.closed line of session `sid`, once it is there. */
  const closeOf = async (sid: string): Promise<LogLine> => {
    const line = (): LogLine | undefined => gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid);
    await gh.waitFor(`session ${sid} to close`, () => line() !== undefined, 15_000);
    return line()!;
  };

  before(async () => {
    // Short checks (the test process hosts Gatehouse, so a stall of about 3 s here could cut a session).
    const alive = { client_alive_interval: 1, client_alive_count_max: 2, target_alive_interval: 1, target_alive_count_max: 2 };
    scenario = await startScenario([{ alias: 'tgt', plugin: {} }], { extra: { ssh: alive } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('a client and a target that answer stay connected through a silent command longer than interval x count_max', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(), command: 'sleep 4; echo still-here' });
    assert.equal(r.stdout, 'still-here\n', r.stderr);
    assert.equal(r.code, 0);
  });

  test('a client that stops answering is disconnected after count_max unanswered checks, its sockets are released and session_ended runs', async () => {
    const count = (event: string): number => gh.logs.filter((l) => l.event === event).length;
    const activeBefore = count('session.active');
    const client = spawn('ssh', [...sshArgs({ port: gh.port, knownHosts: gh.knownHosts, login: login() }), '127.0.0.1', 'sleep 15'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    try {
      await gh.waitFor('the session to be active', () => count('session.active') > activeBefore);
      const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
      process.kill(client.pid!, 'SIGSTOP');
      const stopped = Date.now();
      const closed = await closeOf(sid);
      const took = Date.now() - stopped;
      assert.equal(closed.reason, 'client_timeout');
      assert.equal(closed.code, 'CLIENT_TIMEOUT');
      // Two checks a second apart go unanswered, the third tick ends it: about 3 s, not the 60 s of the command.
      assert.ok(took >= 1_500 && took < 10_000, `closed after ${took} ms`);
      await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === sid));
      // The frozen client's kernel never closes its side; Gatehouse must not keep the socket waiting for it.
      await gh.waitFor('the client socket to be released', () => heldSockets(gh.port).length === 0, 5_000);
    } finally {
      signal([client.pid!], 'SIGKILL');
      signal([client.pid!], 'SIGCONT');
      await exited;
    }
  });

  test('a target that stops answering: the session ends after count_max unanswered checks, the user is told why, session_ended runs', async () => {
    const activeBefore = gh.logs.filter((l) => l.event === 'session.active').length;
    const running = runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(), command: 'sleep 15', timeoutMs: 30_000 });
    let frozen: number[] = [];
    try {
      await gh.waitFor('the session to be active', () => gh.logs.filter((l) => l.event === 'session.active').length > activeBefore);
      const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
      frozen = descendants(sshd.pid);
      assert.ok(frozen.length > 0, 'sshd has processes for the connection');
      signal(frozen, 'SIGSTOP');
      const stopped = Date.now();
      const r = await running;
      const took = Date.now() - stopped;
      assert.equal(r.code, 255);
      assert.match(r.stderr, /stopped answering/);
      assert.ok(took >= 1_500 && took < 10_000, `ended after ${took} ms`);
      const closed = await closeOf(sid);
      assert.equal(closed.reason, 'target_closed');
      assert.equal(closed.code, 'TARGET_TIMEOUT');
      await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === sid));
    } finally {
      signal(frozen, 'SIGCONT');
      await running.catch(() => undefined);
    }
  });

});

describe('idle timeout and shutdown', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const login = (alias = 'tgt'): string => `token=good@${sshd.user}@${alias}`;

  before(async () => {
    scenario = await startScenario(IDLE_SPECS);
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('idle_timeout: a session without data either way for that long is ended, the user is told, session_ended runs', async () => {
    const started = Date.now();
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('idle'), command: 'echo hello; sleep 15', timeoutMs: 20_000 });
    const took = Date.now() - started;
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Received disconnect from 127\.0\.0\.1 port \d+:11: Session idle for 3 seconds; disconnected\./);
    assert.ok(took >= 3_000 && took < 12_000, `ended after ${took} ms`);
    const idleClosed = (): LogLine[] => gh.logs.filter((l) => l.event === 'session.closed' && l.reason === 'idle_timeout');
    await gh.waitFor('the idle session to close', () => idleClosed().length > 0);
    const closed = idleClosed();
    assert.equal(closed.length, 1);
    assert.equal(closed[0]!.code, 'IDLE_TIMEOUT');
    await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === closed[0]!.sid));
  });

  test('idle_timeout: data keeps a session going past it, and sessions of other policies are not touched', async () => {
    const ticking = runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('idle'), command: 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.4; done' });
    const silent = runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('tgt'), command: 'sleep 5; echo quiet' });
    const [t, q] = await Promise.all([ticking, silent]);
    assert.equal(t.stdout, '1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n', t.stderr);
    assert.equal(t.code, 0);
    assert.equal(q.stdout, 'quiet\n', q.stderr);
  });

  test('idle_timeout counts from the login, not from the connection: a login slower than it is not cut', async () => {
    // Silent for its first second: a sweep in it sees no data since the login, none since the connection.
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('idle-slow'), command: 'sleep 1; echo done' });
    assert.equal(r.stdout, 'done\n', r.stderr);
    assert.equal(r.code, 0);
  });

  test('shutdown: a logged-in user is told that Gatehouse is shutting down', async () => {
    const own = await startScenario([{ alias: 'tgt', plugin: {} }]);
    try {
      const running = runSsh({ port: own.gh.port, knownHosts: own.gh.knownHosts, login: `token=good@${own.sshd.user}@tgt`, command: 'sleep 15', timeoutMs: 20_000 });
      await own.gh.waitFor('the session to be active', () => own.gh.logs.some((l) => l.event === 'session.active'));
      await own.gh.app.stop(5_000);
      const r = await running;
      assert.equal(r.code, 255);
      assert.match(r.stderr, /Received disconnect from 127\.0\.0\.1 port \d+:11: Gatehouse is shutting down\./);
    } finally {
      await own.stop();
    }
  });
});
