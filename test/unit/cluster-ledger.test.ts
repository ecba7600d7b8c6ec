import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { fromWire, primaryLimits, toWire, workerLimits } from '../../src/cli/cluster-ledger.js';
import type { FromWorker, ToWorker } from '../../src/cli/cluster-messages.js';
import { primaryPenalties, workerPenalties } from '../../src/cli/cluster-penalties.js';
import { BastionError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { userKey, type Admission, type LimitRules } from '../../src/session/session-limits.js';
import { MemoryLedger, type EndRequest } from '../../src/session/shared-limits.js';
import { Penalties, type PenaltySettings } from '../../src/ssh/penalties.js';

// The session limits and penalties across the workers of one host, without processes: the primary's
// in-memory ledger (one decision over every worker's admissions, a dead worker's places freed), the worker's
// requests (answered, or failing closed at their deadline or when the primary is gone), and the penalty
// mirror (events from any worker count toward one record, clears reach every worker). test/e2e/
// workers-limits.test.ts drives the same through real ssh and `workers: 2`.

function capture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { log: createLogger('debug', sink), lines };
}

const alice = userKey('alice', 'root', '10.0.0.1');
const bob = userKey('bob', 'root', '10.0.0.2');
const rules = (over: Partial<LimitRules> = {}): LimitRules => ({ maxSessions: 0, maxSessionsPerUser: 2, onLimit: 'refuse', ...over });

describe('the primary\'s ledger of every worker\'s admissions', () => {
  let n = 0;
  const adm = (user = alice, policy = 'p'): Admission => ({ id: `s${++n}`, user, policy, startedAt: 1_000 + n });

  test('refuse: sessions in two workers count together; a release frees a place', () => {
    const l = new MemoryLedger();
    const first = adm();
    assert.equal(l.admit(first, 'worker:1', rules(), undefined).ok, true);
    assert.equal(l.admit(adm(), 'worker:2', rules(), undefined).ok, true);
    const third = l.admit(adm(), 'worker:1', rules(), undefined);
    assert.equal(third.ok, false);
    if (!third.ok) {
      assert.equal(third.error.code, 'SESSION_LIMIT');
      assert.match(third.error.userMessage, /alice already has 2 sessions open/);
    }
    assert.equal(l.admit(adm(bob), 'worker:2', rules(), undefined).ok, true, 'another user is not held back');
    assert.equal(l.admit(adm(), 'worker:2', rules({ maxSessionsPerUser: 0, maxSessions: 3 }), undefined).ok, false, 'max_sessions counts every worker');
    l.release(first.id);
    assert.equal(l.admit(adm(), 'worker:2', rules(), undefined).ok, true);
    assert.equal(l.size, 3);
  });

  test('end_oldest names the oldest session with its worker, and strikes it', () => {
    const l = new MemoryLedger();
    const oldest = adm();
    l.admit(oldest, 'worker:7', rules(), undefined);
    l.admit(adm(), 'worker:8', rules(), undefined);
    const d = l.admit(adm(), 'worker:8', rules({ onLimit: 'end_oldest' }), undefined);
    assert.ok(d.ok);
    assert.equal(d.end?.length, 1);
    assert.deepEqual([d.end![0]!.id, d.end![0]!.instance], [oldest.id, 'worker:7']);
    assert.equal(d.rule, 'sessions.max_sessions_per_user');
    assert.equal(l.size, 2);
  });

  test('a dead worker\'s places are free', () => {
    const l = new MemoryLedger();
    l.admit(adm(), 'worker:1', rules(), undefined);
    l.admit(adm(), 'worker:1', rules(), undefined);
    assert.equal(l.admit(adm(), 'worker:2', rules(), undefined).ok, false);
    assert.equal(l.dropOwner('worker:1'), 2);
    assert.equal(l.admit(adm(), 'worker:2', rules(), undefined).ok, true);
  });

  test('a decision crosses the channel and back unchanged, a refusal with its codes and messages', () => {
    const l = new MemoryLedger();
    l.admit(adm(), 'worker:1', rules({ maxSessionsPerUser: 1 }), undefined);
    const refused = fromWire(JSON.parse(JSON.stringify(toWire(l.admit(adm(), 'worker:1', rules({ maxSessionsPerUser: 1 }), undefined)))));
    assert.equal(refused.ok, false);
    if (!refused.ok) {
      assert.ok(refused.error instanceof BastionError);
      assert.equal(refused.error.code, 'SESSION_LIMIT');
      assert.match(refused.error.userMessage, /at most 1 session may be open/);
    }
    const ended = fromWire(JSON.parse(JSON.stringify(toWire(l.admit(adm(), 'worker:2', rules({ maxSessionsPerUser: 1, onLimit: 'end_oldest' }), undefined)))));
    assert.ok(ended.ok);
    assert.equal(ended.end?.[0]?.instance, 'worker:1');
  });
});

describe('a worker asks the primary', () => {
  /** A worker wired straight to a primary, as the IPC channel would (JSON copies, in order). */
  function wired(opts: { primaryAnswers?: boolean; endOnWorkers?: (e: EndRequest) => Promise<boolean>; admitMs?: number } = {}) {
    const { log, lines } = capture();
    const primary = primaryLimits({ log, endOnWorkers: opts.endOnWorkers ?? (async () => false), endOnHosts: () => undefined });
    const toWorker: ToWorker[] = [];
    const worker = workerLimits((m: FromWorker) => {
      if (opts.primaryAnswers === false) return true;
      const copy = JSON.parse(JSON.stringify(m)) as FromWorker;
      setImmediate(() => primary.handle({ pid: 41, send: (a) => { toWorker.push(a); worker.onMessage(JSON.parse(JSON.stringify(a)) as ToWorker); } }, copy));
      return true;
    }, log, opts.admitMs);
    return { primary, worker, lines, toWorker };
  }

  test('admit is decided by the primary; a release reaches it; a dead worker frees its places', async () => {
    const { primary, worker } = wired();
    const a1: Admission = { id: 'w1', user: alice, policy: 'p', startedAt: 1 };
    assert.equal((await worker.ledger.admit(a1, rules({ maxSessionsPerUser: 1 }), undefined)).ok, true);
    const again = await worker.ledger.admit({ ...a1, id: 'w2', startedAt: 2 }, rules({ maxSessionsPerUser: 1 }), undefined);
    assert.equal(again.ok, false);
    worker.ledger.release('w1');
    assert.equal((await worker.ledger.admit({ ...a1, id: 'w3', startedAt: 3 }, rules({ maxSessionsPerUser: 1 }), undefined)).ok, true);
    primary.workerGone(41);
    assert.equal((await worker.ledger.admit({ ...a1, id: 'w4', startedAt: 4 }, rules({ maxSessionsPerUser: 1 }), undefined)).ok, true);
  });

  test('a primary that does not answer: the login is refused with LIMITS_UNAVAILABLE at the deadline, and logged', async () => {
    const { worker, lines } = wired({ primaryAnswers: false, admitMs: 300 });
    const started = Date.now();
    await assert.rejects(worker.ledger.admit({ id: 'x1', user: alice, policy: 'p', startedAt: 1 }, rules(), undefined),
      (err: BastionError) => err.code === 'LIMITS_UNAVAILABLE' && /try again later/.test(err.userMessage));
    assert.ok(Date.now() - started >= 250);
    assert.ok(lines.some((l) => l.event === 'session.limit_unavailable' && l.code === 'LIMITS_UNAVAILABLE'));
  });

  test('a primary that is gone: refused at once, and waiting requests fail on disconnect', async () => {
    const { log } = capture();
    const gone = workerLimits(() => false, log);
    await assert.rejects(gone.ledger.admit({ id: 'x2', user: alice, policy: 'p', startedAt: 1 }, rules(), undefined), { code: 'LIMITS_UNAVAILABLE' });
    const silent = workerLimits(() => true, log);
    const waiting = silent.ledger.admit({ id: 'x3', user: alice, policy: 'p', startedAt: 1 }, rules(), undefined);
    silent.disconnected();
    await assert.rejects(waiting, { code: 'LIMITS_UNAVAILABLE' });
  });

  test('ending a session elsewhere goes through the primary to the workers', async () => {
    const asked: EndRequest[] = [];
    const { worker } = wired({ endOnWorkers: async (e) => { asked.push(e); return true; } });
    const end: EndRequest = { session_id: 'far', user: alice, rule: 'sessions.max_sessions_per_user', limit: 1 };
    await worker.endElsewhere(end);
    assert.deepEqual(asked, [end]);
  });
});

describe('penalties across workers', () => {
  const SETTINGS: PenaltySettings = {
    enabled: true, seconds: { authfail: 5, noauth: 1, grace_exceeded: 10 }, minMs: 15_000, maxMs: 600_000,
    exempt: [], v4Prefix: 32, v6Prefix: 64, maxSources: 100,
  };

  test('failures in two workers count toward one record; every worker refuses; a clear reaches every worker', () => {
    const { log, lines } = capture();
    const workers = [new Penalties(() => SETTINGS, log), new Penalties(() => SETTINGS, log)];
    const handlers: ((m: ToWorker) => boolean)[] = [];
    const primary = primaryPenalties(() => SETTINGS, log, (m) => { for (const h of handlers) h(JSON.parse(JSON.stringify(m)) as ToWorker); });
    for (const w of workers) handlers.push(workerPenalties(w, (m) => primary.handle(JSON.parse(JSON.stringify(m)) as FromWorker)));

    // Two failures in each worker: 20 s together, past the min of 15; each worker's own 10 s would not be.
    workers[0]!.record('192.0.2.9', 'authfail');
    workers[1]!.record('192.0.2.9', 'authfail');
    assert.equal(workers[0]!.check('192.0.2.9'), undefined);
    workers[0]!.record('192.0.2.9', 'authfail');
    workers[1]!.record('192.0.2.9', 'authfail');
    for (const w of workers) assert.equal(w.check('192.0.2.9')?.source, '192.0.2.9/32');
    assert.deepEqual(primary.control.list().map((p) => [p.source, p.active, p.events]), [['192.0.2.9/32', true, 4]]);
    assert.equal(lines.filter((l) => l.event === 'penalty.active').length, 1);

    // A worker that starts now gets the table.
    const late = new Penalties(() => SETTINGS, log);
    workerPenalties(late, () => true)(primary.snapshot()!);
    assert.equal(late.check('192.0.2.9')?.source, '192.0.2.9/32');

    assert.deepEqual(primary.control.clear('192.0.2.9'), ['192.0.2.9/32']);
    for (const w of workers) assert.equal(w.check('192.0.2.9'), undefined);
    assert.equal(primary.snapshot(), undefined);
  });
});
