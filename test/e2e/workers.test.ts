import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { SessionSummary } from '../../src/control/control-protocol.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// workers: 2 as production runs it (`gatehouse serve`, a primary and two forked workers on one port): both
// workers take logins; `gatehouse sessions` and `terminate` reach every worker; a killed worker is replaced
// while the other's sessions carry on; SIGHUP reloads every worker, and an invalid file keeps all on the old
// configuration.

const TOKEN = 'Worker-Token-9034';
const spec = (token: string) => [{ alias: 'tgt', plugin: { expect: { token } } }];

interface Interactive {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly exited: Promise<number | null>;
}

/** A logged-in ssh running `cat` on the target: what we write comes back while the session lives. */
function interactive(gh: GatehouseProcess, port: number, user: string): Interactive {
  const args = [...sshArgs({ port, knownHosts: gh.knownHosts(port), login: `token=${TOKEN}@${user}@tgt` }), '127.0.0.1', 'cat'];
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin!.on('error', () => undefined);
  return { child, out: () => out, exited: new Promise((r) => child.once('exit', (c) => r(c))) };
}

describe('workers: 2', () => {
  let sshd: Sshd;
  let gh: GatehouseProcess;
  let port = 0;
  const opened: Interactive[] = [];

  const sessions = async (): Promise<SessionSummary[]> => {
    const r = await gh.cli('sessions', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SessionSummary[];
  };
  const workerPids = (): number[] => {
    const ready = gh.logs.filter((l) => l.event === 'workers.ready').at(-1);
    return (ready?.['workers'] as number[] | undefined) ?? [];
  };

  before(async () => {
    sshd = await startSshd();
    gh = await startGatehouseProcess(sshd, spec(TOKEN), { workers: 2 });
    await gh.waitFor('the workers to be ready', () => gh.logs.some((l) => l.event === 'workers.ready'), 90_000);
    port = Number(gh.logs.find((l) => l.event === 'server.listening')!['port']);
    sshd.authorize(gh.clientKeyLine());
  });
  after(async () => {
    for (const s of opened) s.child.kill();
    await gh?.stop();
    await sshd?.stop();
  });

  test('two worker processes listen on the one port, each under its own pid', () => {
    const pids = workerPids();
    assert.equal(pids.length, 2);
    assert.ok(!pids.includes(gh.child.pid!));
    const listening = gh.logs.filter((l) => l.event === 'server.listening');
    assert.deepEqual(new Set(listening.map((l) => l['worker'])), new Set(pids));
    assert.ok(listening.every((l) => l['port'] === port));
  });

  test('both workers take sessions, and gatehouse sessions lists them all with their worker', async () => {
    // Connections go to the workers in turn; a few are enough for both to have two (one of them is
    // terminated below, and each worker must still have one when the other is killed).
    const perWorker = (list: SessionSummary[], pid: number): number => list.filter((s) => s.worker === pid).length;
    for (let i = 0; i < 10; i++) {
      opened.push(interactive(gh, port, sshd.user));
      await gh.waitFor(`session ${i + 1} to be active`, () => gh.logs.filter((l) => l.event === 'session.active').length >= i + 1, 60_000);
      const list = await sessions();
      if (workerPids().every((p) => perWorker(list, p) >= 2)) break;
    }
    const list = await sessions();
    assert.equal(list.length, opened.length);
    assert.deepEqual(new Set(list.map((s) => s.worker)), new Set(workerPids()));
    for (const s of list) assert.ok(gh.logs.some((l) => l.sid === s.session_id && l.event === 'session.active' && l['worker'] === s.worker));
  });

  test('terminate reaches the session on whichever worker serves it', async () => {
    const list = await sessions();
    const victim = list.at(-1)!;
    const r = await gh.cli('terminate', victim.session_id);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`terminated ${victim.session_id}`));
    const i = opened.length - 1;
    await opened[i]!.exited;
    assert.match(opened[i]!.out(), /Session terminated by an administrator/);
    opened.splice(i, 1);
    await gh.waitFor('the session to close', () => gh.logs.some((l) => l.sid === victim.session_id && l.event === 'session.closed'));
    assert.ok(!(await sessions()).some((s) => s.session_id === victim.session_id));
    const missing = await gh.cli('terminate', 'no-such-session');
    assert.equal(missing.code, 1);
  });

  test('a killed worker is logged and replaced; the other worker\'s live sessions keep working', async () => {
    const list = await sessions();
    const [dead, alive] = workerPids();
    const survivors = list.filter((s) => s.worker === alive);
    const lost = list.filter((s) => s.worker === dead);
    assert.ok(survivors.length > 0 && lost.length > 0);
    const before = gh.logs.length;
    const crashedIds = new Set<string>();
    process.kill(dead!, 'SIGKILL');
    await gh.waitFor('the loss to be logged', () => gh.logs.some((l) => l.event === 'worker.lost' && l['worker'] === dead), 30_000);
    const lostLine = gh.logs.find((l) => l.event === 'worker.lost')!;
    assert.deepEqual(new Set(lostLine['sessions'] as string[]), new Set(lost.map((s) => s.session_id)));
    await gh.waitFor('a replacement worker to listen', () => gh.logs.slice(before).some((l) => l.event === 'server.listening' && l['worker'] !== alive), 60_000);

    // Every surviving session still echoes what its user types (writing to a lost one's client does no harm).
    for (const [n, o] of opened.entries()) {
      if (o.child.exitCode !== null) continue;
      o.child.stdin!.write(`still-here-${n}\n`);
    }
    const echoed = (): number => opened.filter((o, n) => o.out().includes(`still-here-${n}`)).length;
    await gh.waitFor('the surviving sessions to echo', () => echoed() >= survivors.length, 30_000);
    assert.equal(echoed(), survivors.length);

    // The lost ones are recorded as crashed in the connection database.
    const crashed = async (): Promise<{ session_id: string; end_reason: string; end_code: string }[]> => {
      const r = await gh.cli('sessions', '--all', '--reason', 'crashed', '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { session_id: string; end_reason: string; end_code: string }[];
    };
    await gh.waitFor('crashed rows', () => lost.every((s) => crashedIds.has(s.session_id)), 30_000, async () => {
      for (const row of await crashed()) crashedIds.add(row.session_id);
    });
    for (const row of (await crashed()).filter((x) => lost.some((s) => s.session_id === x.session_id))) assert.equal(row.end_code, 'WORKER_CRASHED');

    // The listing now has exactly the survivors; new logins are served (by both workers again).
    const after = await sessions();
    assert.deepEqual(new Set(after.map((s) => s.session_id)), new Set(survivors.map((s) => s.session_id)));
    for (let i = 0; i < 2; i++) {
      const r = await runSsh({ port, knownHosts: gh.knownHosts(port), login: `token=${TOKEN}@${sshd.user}@tgt`, command: 'echo after-$((1+1))', timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'after-2');
    }
  });

  test('SIGHUP: an invalid file keeps every worker on the old configuration; a valid one reloads them all', async () => {
    const good = readFileSync(gh.configFile, 'utf8');
    writeFileSync(gh.configFile, `${good}\nlisten_port: 22\n`);
    let before = gh.logs.length;
    gh.child.kill('SIGHUP');
    await gh.waitFor('the failure to be logged', () => gh.logs.slice(before).some((l) => l.event === 'config.reload_failed'));
    assert.ok(!gh.logs.slice(before).some((l) => l.event === 'config.reloaded'));
    const still = await runSsh({ port, knownHosts: gh.knownHosts(port), login: `token=${TOKEN}@${sshd.user}@tgt`, command: 'true', timeoutMs: 60_000 });
    assert.equal(still.code, 0, still.stderr);

    gh.writeConfig({ workers: 2 }, spec('New-Token-1'));
    before = gh.logs.length;
    gh.child.kill('SIGHUP');
    const pids = new Set((await sessions()).map((s) => s.worker));
    await gh.waitFor('both workers to reload', () => new Set(gh.logs.slice(before).filter((l) => l.event === 'config.reloaded' && l['worker']).map((l) => l['worker'])).size === 2, 60_000);
    assert.ok(pids.size >= 1);
    for (let i = 0; i < 2; i++) {
      const old = await runSsh({ port, knownHosts: gh.knownHosts(port), login: `token=${TOKEN}@${sshd.user}@tgt`, command: 'true', answers: ['', '', ''], timeoutMs: 60_000 });
      assert.notEqual(old.code, 0);
      const fresh = await runSsh({ port, knownHosts: gh.knownHosts(port), login: `token=New-Token-1@${sshd.user}@tgt`, command: 'true', timeoutMs: 60_000 });
      assert.equal(fresh.code, 0, fresh.stderr);
    }
  });

  test('SIGTERM stops the workers and the primary, ending every session', async () => {
    for (const o of opened) o.child.stdin!.end();
    const code = await gh.stop();
    assert.equal(code, 0, gh.stderr());
    assert.ok(gh.logs.some((l) => l.event === 'shutdown.done' && !l['worker']));
  });
});
