import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { SessionSummary } from '../../src/control/control-protocol.js';
import type { LogLine } from '../helpers/gatehouse.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { runSsh, sshArgs } from '../helpers/openssh.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// workers: 2 without a database: the session limits and the penalties hold for the host, not per worker.
// The primary hands connections to the workers in turn, so consecutive logins land in both; the tests check
// where each landed rather than assume it. A per-user cap of 2 refuses the third session of a user whose two
// sessions run one in each worker (each worker alone has one); end_oldest ends the oldest session in the other
// worker, whose user reads why; two failed logins, one in each worker, make the source penalised everywhere
// (each worker alone saw one failure, under `min`), `gatehouse penalties` on the primary lists it and
// `--clear` lets the source in again at both workers. With database.url the workers decide on PostgreSQL
// themselves, and end_oldest still ends the session in the other worker (through the primary).

const TOKEN = 'Limits-Token-4471';
const ANYONE = { usermapping: [{ server_user: '*', gateway_users: ['*'] }] };
const SPECS = [
  { alias: 'tgt', plugin: { expect: { token: TOKEN }, max_tries: 1, gateway: { user: 'alice', groups: [] } }, more: ANYONE },
  { alias: 'tgb', plugin: { expect: { token: TOKEN }, max_tries: 1, gateway: { user: 'bob', groups: [] } }, more: ANYONE },
];
// One failure adds 30 s; refused from 45 s: two failures are needed (within 15 s of each other, ample under
// load), and each worker sees one of them.
const PENALTIES = { authfail: 30, noauth: 0, grace_exceeded: 0, min: 45 };
const sessionsConfig = (onLimit: string, more: Record<string, unknown> = {}) => ({ workers: 2, sessions: { max_sessions_per_user: 2, on_limit: onLimit }, penalties: PENALTIES, ...more });

interface Interactive {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly exited: Promise<number | null>;
}

interface Alice {
  readonly s: Interactive;
  readonly sid: string;
  readonly worker: number;
}

/** One `gatehouse serve` with workers: 2 in front of a real sshd, and the ssh clients it serves. */
class Harness {
  sshd!: Sshd;
  gh!: GatehouseProcess;
  port = 0;
  readonly opened: Interactive[] = [];
  /** alice's interactive sessions, oldest first. */
  readonly alices: Alice[] = [];

  async start(extra: Record<string, unknown>): Promise<void> {
    this.sshd = await startSshd();
    this.gh = await startGatehouseProcess(this.sshd, SPECS, extra);
    await this.gh.waitFor('the workers to be ready', () => this.gh.logs.some((l) => l.event === 'workers.ready'), 90_000);
    this.port = Number(this.gh.logs.find((l) => l.event === 'server.listening')!['port']);
    this.sshd.authorize(this.gh.clientKeyLine());
  }

  async stop(): Promise<void> {
    for (const s of this.opened) s.child.kill();
    await this.gh?.stop();
    await this.sshd?.stop();
  }

  /** A logged-in ssh of alice running `cat` on the target, and the worker that serves it. */
  async openAlice(): Promise<Alice> {
    const before = this.gh.logs.length;
    const args = [...sshArgs({ port: this.port, knownHosts: this.gh.knownHosts(this.port), login: `token=${TOKEN}@${this.sshd.user}@tgt` }), '127.0.0.1', 'cat'];
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stdin!.on('error', () => undefined);
    const s = { child, out: () => out, exited: new Promise<number | null>((r) => child.once('exit', (c) => r(c))) };
    this.opened.push(s);
    await this.gh.waitFor('the session to be active', () => this.since(before, 'session.active').length > 0, 60_000);
    const line = this.since(before, 'session.active')[0]!;
    const a = { s, sid: String(line.sid), worker: Number(line['worker']) };
    this.alices.push(a);
    return a;
  }

  login(alias: string, from = '127.0.0.1', token = TOKEN): ReturnType<typeof runSsh> {
    return runSsh({
      port: this.port, knownHosts: this.gh.knownHosts(this.port), login: `token=${token}@${this.sshd.user}@${alias}`,
      command: 'echo in', answers: ['wrong'], options: ['-b', from], timeoutMs: 60_000,
    });
  }

  async sessions(): Promise<SessionSummary[]> {
    const r = await this.gh.cli('sessions', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SessionSummary[];
  }

  since(n: number, event: string): LogLine[] {
    return this.gh.logs.slice(n).filter((l) => l.event === event);
  }
}

/** alice has two sessions, one in each worker, under on_limit: end_oldest: a third in the other worker than the oldest's ends it there. */
async function endOldestInOtherWorker(h: Harness): Promise<void> {
  const live = (await h.sessions()).filter((s) => s.gateway_user === 'alice').sort((a, b) => a.started_at.localeCompare(b.started_at));
  assert.equal(live.length, 2);
  const oldest = live[0]!;
  // Steer the next login away from the oldest session's worker: a short login of bob shows whose turn it
  // was, and the next connection goes to the other worker.
  let before = 0;
  for (let i = 0; i < 3; i++) {
    before = h.gh.logs.length;
    assert.equal((await h.login('tgb')).stdout, 'in\n');
    if (Number(h.since(before, 'session.active')[0]!['worker']) === oldest.worker) break;
  }
  before = h.gh.logs.length;
  const newer = await h.openAlice();
  assert.notEqual(newer.worker, oldest.worker, 'the new session runs in the other worker');
  const victim = h.alices.find((a) => a.sid === oldest.session_id)!;
  assert.equal(await victim.s.exited, 255);
  assert.match(victim.s.out(), /Session ended: alice opened a newer session, and at most 2 sessions may be open at once\./);
  await h.gh.waitFor('the oldest session to close', () => h.since(before, 'session.closed').some((l) => l.sid === oldest.session_id), 30_000);
  const ended = h.since(before, 'session.limit').find((l) => l['action'] === 'ended_oldest');
  assert.equal(ended?.['ended'], oldest.session_id);
  assert.equal(ended?.['worker'], newer.worker);
  const there = h.since(before, 'session.limit').find((l) => l['action'] === 'ended_for_newer');
  assert.equal(there?.['worker'], oldest.worker);
  assert.equal(there?.sid, oldest.session_id);
  const after = (await h.sessions()).filter((s) => s.gateway_user === 'alice').map((s) => s.session_id);
  assert.equal(after.length, 2);
  assert.ok(!after.includes(oldest.session_id));
  assert.ok(after.includes(newer.sid));
}

describe('workers: 2: per-user limits and penalties across the workers', () => {
  const h = new Harness();
  before(() => h.start(sessionsConfig('refuse')));
  after(() => h.stop());

  test('failures spread over both workers penalise the source everywhere; gatehouse penalties lists and clears it on the primary', async () => {
    const before = h.gh.logs.length;
    for (let i = 0; i < 4 && !h.since(before, 'connection.dropped').some((l) => l['rule'] === 'penalty'); i++) {
      const r = await h.login('tgt', '127.0.0.3', 'wrong-token');
      assert.notEqual(r.code, 0);
    }
    const denied = h.since(before, 'auth.deny').filter((l) => l.ip === '127.0.0.3');
    assert.equal(denied.length, 2, 'two failures, then refused at accept');
    assert.equal(new Set(denied.map((l) => l['worker'])).size, 2, 'one failure in each worker');
    const active = h.since(before, 'penalty.active');
    assert.equal(active.length, 1);
    assert.equal(active[0]!['source'], '127.0.0.3/32');
    assert.equal(active[0]!['worker'], undefined, 'the primary keeps the record');

    // Every worker refuses the source at accept, before any SSH work.
    const n = h.gh.logs.length;
    for (let i = 0; i < 2; i++) assert.notEqual((await h.login('tgb', '127.0.0.3')).code, 0);
    const drops = h.since(n, 'connection.dropped').filter((l) => l['rule'] === 'penalty' && l.ip === '127.0.0.3');
    assert.equal(drops.length, 2);
    assert.equal(new Set(drops.map((l) => l['worker'])).size, 2);

    const listed = await h.gh.cli('penalties', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const list = JSON.parse(listed.stdout) as { source: string; active: boolean; events: number }[];
    assert.deepEqual(list.map((p) => [p.source, p.active, p.events]), [['127.0.0.3/32', true, 2]]);

    const cleared = await h.gh.cli('penalties', '--clear', '127.0.0.3');
    assert.equal(cleared.stdout, 'cleared 127.0.0.3/32\n', cleared.stderr);
    const m = h.gh.logs.length;
    for (let i = 0; i < 2; i++) {
      const r = await h.login('tgb', '127.0.0.3');
      assert.equal(r.stdout, 'in\n', r.stderr);
    }
    assert.equal(new Set(h.since(m, 'session.active').map((l) => l['worker'])).size, 2, 'both workers let the source in again');
    assert.equal((await h.gh.cli('penalties')).stdout, 'no penalties\n');
  });

  test('refuse: the cap counts the sessions of both workers; the over-cap login is refused with its message', async () => {
    const first = await h.openAlice();
    const second = await h.openAlice();
    assert.notEqual(first.worker, second.worker, 'consecutive logins go to both workers');
    const before = h.gh.logs.length;
    for (let i = 0; i < 2; i++) {
      const r = await h.login('tgt');
      assert.equal(r.code, 255);
      assert.match(r.stderr, /Access denied: alice already has 2 sessions open, and at most 2 sessions may be open at once\./);
    }
    const refusals = h.since(before, 'session.limit').filter((l) => l['action'] === 'refused');
    assert.equal(new Set(refusals.map((l) => l['worker'])).size, 2, 'both workers refused, each with one session of its own');
    assert.ok(refusals.every((l) => l['rule'] === 'sessions.max_sessions_per_user' && l['user'] === 'alice'));
    // Another user is not held back.
    assert.equal((await h.login('tgb')).stdout, 'in\n');
  });

  test('end_oldest: a login in one worker ends the oldest session in the other, whose user reads why', async () => {
    h.gh.writeConfig(sessionsConfig('end_oldest'), SPECS);
    const before = h.gh.logs.length;
    h.gh.child.kill('SIGHUP');
    await h.gh.waitFor('both workers to reload', () => new Set(h.since(before, 'config.reloaded').map((l) => l['worker']).filter(Boolean)).size === 2, 60_000);
    await endOldestInOtherWorker(h);
  });
});

describe('workers: 2 with database.url: end_oldest in the other worker', () => {
  const h = new Harness();
  let db: Postgres | undefined;
  before(async () => {
    db = await startPostgres();
    const url = await db.createDatabase('workers_limits');
    await h.start(sessionsConfig('end_oldest', { database: { url, instance: 'gh-w' } }));
  });
  after(async () => {
    await h.stop();
    await db?.stop();
  });

  test('the workers decide on PostgreSQL; the session to end runs in the other worker and is ended through the primary', async () => {
    const first = await h.openAlice();
    const second = await h.openAlice();
    assert.notEqual(first.worker, second.worker);
    await endOldestInOtherWorker(h);
    assert.ok(h.gh.logs.some((l) => l.event === 'session.limit' && l['action'] === 'ended_oldest' && l['instance'] === 'gh-w'), 'decided on the shared ledger');
  });
});
