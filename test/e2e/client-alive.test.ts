import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// A client that stops answering (laptop lid shut, network gone, process frozen) must not hold a session, a
// target login and two sockets forever: as OpenSSH's ClientAliveInterval / ClientAliveCountMax, Gatehouse
// asks every interval and ends the session after count_max questions without an answer, and session_ended runs.
// A frozen ssh process (SIGSTOP) is such a client: its kernel still acknowledges TCP, but nothing answers SSH.

const SPECS: PolicySpec[] = [{ alias: 'tgt', plugin: {} }];

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
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[1]!.endsWith(hexPort) && f[3] !== '0A' && open.has(f[9]!))
    .map((f) => f.join(' '));
}

describe('client alive checks', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const login = (): string => `token=good@${sshd.user}@tgt`;

  before(async () => {
    scenario = await startScenario(SPECS, { extra: { ssh: { client_alive_interval: 1, client_alive_count_max: 2 } } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('a client that answers keepalives stays connected through a silent command longer than interval x count_max', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(), command: 'sleep 4; echo still-here' });
    assert.equal(r.stdout, 'still-here\n', r.stderr);
    assert.equal(r.code, 0);
  });

  test('a client that stops answering is disconnected after count_max unanswered checks, its sockets are released and session_ended runs', async () => {
    const count = (event: string): number => gh.logs.filter((l) => l.event === event).length;
    const activeBefore = count('session.active');
    const client = spawn('ssh', [...sshArgs({ port: gh.port, knownHosts: gh.knownHosts, login: login() }), '127.0.0.1', 'sleep 60'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    try {
      await gh.waitFor('the session to be active', () => count('session.active') > activeBefore);
      const sid = gh.logs.filter((l) => l.event === 'session.active').at(-1)!.sid!;
      process.kill(client.pid!, 'SIGSTOP');
      const stopped = Date.now();
      const closedLine = () => gh.logs.find((l) => l.event === 'session.closed' && l.sid === sid);
      await gh.waitFor('the frozen client\'s session to close', () => closedLine() !== undefined, 15_000);
      const closed = closedLine();
      const took = Date.now() - stopped;
      assert.ok(closed, "the session closed");
      assert.equal(closed.reason, 'client_timeout');
      assert.equal(closed.code, 'CLIENT_TIMEOUT');
      // Two checks a second apart go unanswered, the third tick ends it: about 3 s, not the 60 s of the command.
      assert.ok(took >= 1_500 && took < 10_000, `closed after ${took} ms`);
      await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === sid));
      // The frozen client's kernel never closes its side; Gatehouse must not keep the socket waiting for it.
      await gh.waitFor('the client socket to be released', () => heldSockets(gh.port).length === 0, 5_000);
    } finally {
      process.kill(client.pid!, 'SIGKILL');
      process.kill(client.pid!, 'SIGCONT');
      await exited;
    }
  });
});
