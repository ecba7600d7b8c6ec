import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SessionSummary } from '../../src/control/control-protocol.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { cliRun } from '../helpers/gatehouse-process.js';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { scenarioHosts, scenarioPolicies, targetKnownHosts } from '../helpers/scenario.js';
import { setSessions } from '../helpers/session-db.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// The documented deployment (docs/scale-out.md): two Gatehouse hosts behind HAProxy in TCP mode with
// send-proxy-v2, sharing one PostgreSQL. A real ssh through HAProxy reaches the target with the real client
// address; either host's `gatehouse sessions` lists the sessions of both, and `terminate` from one ends a
// session on the other.

const TOKEN = 'Scale-Token-3317';
const SPECS = [{ alias: 'tgt', plugin: { expect: { token: TOKEN } } }];

describe('two Gatehouse hosts behind HAProxy, one PostgreSQL', () => {
  let sshd: Sshd;
  let db: Postgres;
  let haproxy: Haproxy;
  const gh: Gatehouse[] = [];
  const clients: ChildProcess[] = [];
  let port = 0;
  let knownHosts = '';

  before(async () => {
    [sshd, db] = await Promise.all([startSshd(), startPostgres()]);
    const url = await db.createDatabase('gatehouse');
    for (const instance of ['gh-a', 'gh-b']) {
      gh.push(await startGatehouse({
        plugins: ['scripted'],
        policies: (ctx) => scenarioPolicies(ctx, sshd, SPECS),
        files: () => targetKnownHosts(sshd),
        extra: () => ({
          hosts: scenarioHosts(sshd, SPECS),
          listen: [{ address: '127.0.0.1:0', proxy_protocol: { trusted: ['127.0.0.1'] } }],
          database: { url, instance },
          // One session per user (here: server user and client address) across both hosts.
          sessions: { max_sessions_per_user: 1, on_limit: 'refuse' },
        }),
      }));
      sshd.authorize(gh[gh.length - 1]!.clientKeyLine);
    }
    // The first frontend spreads over both hosts; the other two reach one host each, for the limit test.
    haproxy = await startHaproxy([{ proxy: 'v2', backends: gh.map((g) => g.port) }, ...gh.map((g) => ({ proxy: 'v2' as const, backends: [g.port] }))]);
    port = haproxy.ports[0]!;
    // Clients see both hosts behind one address: their known_hosts trusts the keys of both (a deployment gives
    // the hosts the same host keys instead, as docs/scale-out.md says).
    knownHosts = join(gh[0]!.dir, 'lb_known_hosts');
    writeFileSync(knownHosts, haproxy.ports.flatMap((p) => gh.map((g) => readFileSync(g.knownHosts, 'utf8').split(`[127.0.0.1]:${g.port} `).join(`[127.0.0.1]:${p} `))).join(''));
  });
  after(async () => {
    for (const c of clients) c.kill();
    await haproxy?.stop();
    for (const g of gh) await g.stop();
    await sshd?.stop();
    await db?.stop();
  });

  const sessionsOn = async (g: Gatehouse): Promise<SessionSummary[]> => {
    const r = await cliRun('sessions', '--json', '--config', g.configFile);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SessionSummary[];
  };

  test('a real ssh through HAProxy reaches the target, and the plugin sees the real client address', async () => {
    const r = await runSsh({ port, knownHosts, login: `token=${TOKEN}@${sshd.user}@tgt`, options: ['-b', '127.0.0.5'], command: 'echo via-lb', timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'via-lb');
    const seen = gh.flatMap((g) => g.calls('authenticate')).map((c) => c.args['client_ip']);
    assert.ok(seen.includes('127.0.0.5'), JSON.stringify(seen));
  });

  test('each host lists the live sessions of both; terminate from one ends a session on the other', async () => {
    // HAProxy's leastconn sends each new login to the host with fewer: two long sessions land one on each.
    for (let i = 0; i < 4 && !gh.every((g) => g.app.registry.list().some((s) => s.phase === 'active')); i++) {
      const child = spawn('ssh', [...sshArgs({ port, knownHosts, login: `token=${TOKEN}@${sshd.user}@tgt` }), '-b', `127.0.0.${10 + i}`, '127.0.0.1', 'sleep 300'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
      let out = '';
      child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      Object.assign(child, { out: () => out });
      clients.push(child);
      const total = (): number => gh.reduce((n, g) => n + g.app.registry.list().filter((s) => s.phase === 'active').length, 0);
      await gh[0]!.waitFor(`login ${i + 1}`, () => total() >= i + 1, 60_000);
    }
    const [a, b] = gh as [Gatehouse, Gatehouse];
    const onB = b.app.registry.list().find((s) => s.phase === 'active')!;
    assert.ok(onB && a.app.registry.list().some((s) => s.phase === 'active'), 'both hosts have a session');

    for (const g of gh) {
      const list = await sessionsOn(g);
      const ids = new Set(list.map((s) => s.session_id));
      for (const h of gh) for (const s of h.app.registry.list()) assert.ok(ids.has(s.id), `${s.id} listed on every host`);
      assert.deepEqual(new Set(list.map((s) => s.instance)), new Set(['gh-a', 'gh-b']));
      assert.equal(list.find((s) => s.session_id === onB.id)?.instance, 'gh-b');
    }

    const r = await cliRun('terminate', onB.id, '--config', a.configFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`terminated ${onB.id}`));
    await b.waitFor('the session on the other host to close', () => b.logs.some((l) => l.sid === onB.id && l.event === 'session.closed' && l['reason'] === 'terminated'), 30_000);
    await b.waitFor('its user to read why', () => clients.some((c) => (c as unknown as { out: () => string }).out().includes('Session terminated by an administrator')), 30_000);
    assert.ok(!(await sessionsOn(a)).some((s) => s.session_id === onB.id));
    const none = await cliRun('terminate', 'no-such-session', '--config', a.configFile);
    assert.equal(none.code, 1);
  });

  test('the per-user limit holds across the hosts: a second session of the same user is refused on the other host', async () => {
    const [a, b] = gh as [Gatehouse, Gatehouse];
    const [, toA, toB] = haproxy.ports as [number, number, number];
    const login = `token=${TOKEN}@${sshd.user}@tgt`;
    const first = spawn('ssh', [...sshArgs({ port: toA, knownHosts, login }), '-b', '127.0.0.20', '127.0.0.1', 'sleep 300'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
    clients.push(first);
    await a.waitFor('the first session, on host A', () => a.app.registry.list().some((s) => s.client.ip === '127.0.0.20' && s.phase === 'active'), 60_000);
    const second = await runSsh({ port: toB, knownHosts, login, options: ['-b', '127.0.0.20', '-o', 'LogLevel=INFO'], command: 'true', timeoutMs: 60_000 });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /already has 1 session open, and at most 1 session may be open at once/);
    assert.ok(b.logs.some((l) => l.event === 'session.limit' && l['action'] === 'refused' && l['shared'] === true));
    // Another client address is another user here: it is let in on host B.
    const other = await runSsh({ port: toB, knownHosts, login, options: ['-b', '127.0.0.21'], command: 'echo other', timeoutMs: 60_000 });
    assert.equal(other.code, 0, other.stderr);
    // Once the first session ends, its place is free on host B too.
    first.kill();
    await a.waitFor('the first session to close', () => !a.app.registry.list().some((s) => s.client.ip === '127.0.0.20'), 30_000);
    const again = await runSsh({ port: toB, knownHosts, login, options: ['-b', '127.0.0.20'], command: 'echo again', timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    // Both hosts write their sessions into the one database.
    const c = new pg.Client({ connectionString: db.url('gatehouse') });
    await c.connect();
    const rows = (await c.query<{ instance: string }>('SELECT DISTINCT instance FROM sessions ORDER BY instance')).rows;
    await c.end();
    assert.deepEqual(rows.map((r) => r.instance), ['gh-a', 'gh-b']);
    // History on either host reads the shared database: both hosts' ended sessions.
    const history = await cliRun('sessions', '--all', '--json', '--config', b.configFile);
    assert.equal(history.code, 0, history.stderr);
    const ended = JSON.parse(history.stdout) as { instance: string; end_reason: string | null }[];
    assert.deepEqual(new Set(ended.filter((r) => r.end_reason).map((r) => r.instance)), new Set(['gh-a', 'gh-b']));
  });

  test('end_oldest across the hosts: a login on one host ends the same user\'s older session on the other, whose user reads why', async () => {
    const [a, b] = gh as [Gatehouse, Gatehouse];
    const [, toA, toB] = haproxy.ports as [number, number, number];
    for (const g of gh) await setSessions(g, { max_sessions_per_user: 1, on_limit: 'end_oldest' });
    const login = `token=${TOKEN}@${sshd.user}@tgt`;
    const first = spawn('ssh', [...sshArgs({ port: toA, knownHosts, login }), '-b', '127.0.0.30', '127.0.0.1', 'sleep 300'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
    clients.push(first);
    let out = '';
    first.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => first.once('exit', resolve));
    await a.waitFor('the first session, on host A', () => a.app.registry.list().some((s) => s.client.ip === '127.0.0.30' && s.phase === 'active'), 60_000);
    const older = a.app.registry.list().find((s) => s.client.ip === '127.0.0.30')!;
    // The same user on host B is let in, and the session on host A makes room.
    const newer = await runSsh({ port: toB, knownHosts, login, options: ['-b', '127.0.0.30'], command: 'echo newer', timeoutMs: 60_000 });
    assert.equal(newer.code, 0, newer.stderr);
    assert.match(newer.stdout, /newer/);
    await a.waitFor('the older session on host A to end', () => a.logs.some((l) => l.sid === older.id && l.event === 'session.closed'), 30_000);
    assert.notEqual(await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]), 'still running');
    assert.ok(b.logs.some((l) => l.event === 'session.limit' && l['action'] === 'ended_oldest' && l['ended'] === older.id && l['instance'] === 'gh-a'),
      'host B logs the rule it applied and the session it ended on host A');
    assert.ok(a.logs.some((l) => l.sid === older.id && l.event === 'session.limit' && l['action'] === 'ended_for_newer'));
    assert.ok(a.logs.some((l) => l.sid === older.id && l.event === 'session.closed' && l['reason'] === 'session_limit'));
    // Its user reads the limit's reason, not an administrator's.
    assert.match(out, /Session ended: .* opened a newer session, and at most 1 session may be open at once/);
  });
});
