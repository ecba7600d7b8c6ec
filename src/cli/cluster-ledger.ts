import type { Logger } from 'pino';
import { BastionError } from '../core/errors.js';
import { MemoryLedger, type EndRequest, type LimitLedger, type SharedDecision } from '../session/shared-limits.js';
import type { FromWorker, ToWorker, WireDecision } from './cluster-messages.js';

// The session limits across the workers of one host. Without a database the primary keeps every worker's
// admissions (session/shared-limits.ts MemoryLedger) and decides each login its workers ask about, one at a
// time on its event loop; with database.url the workers use PostgreSQL themselves. Either way a session to
// end to make room on another worker (or, with PostgreSQL, another host) is ended through the primary, which
// reaches every worker and, over its hosts link, every host.
// A worker's request has a deadline: a primary that is slow or gone refuses the login (fail closed, with a
// coded error and a log line) rather than admitting it uncounted.

/** How long a worker waits for the primary's limits decision before it refuses the login. */
export const ADMIT_MS = 5_000;
/** Ending a session elsewhere may ask every worker and then every host (5 s each). */
const END_MS = 15_000;

type Answer = Extract<ToWorker, { t: 'answer' }>;
type Ask = { t: 'admit' | 'end' } & Record<string, unknown>;

export interface WorkerLimits {
  readonly ledger: LimitLedger;
  readonly endElsewhere: (end: EndRequest) => Promise<unknown>;
  /** Takes the primary's answers; false for any other message. */
  onMessage(m: ToWorker): boolean;
  /** The primary is gone: every waiting request fails now rather than at its deadline. */
  disconnected(): void;
}

function unavailable(why: string): BastionError {
  return new BastionError('LIMITS_UNAVAILABLE', `the session limits could not be checked: ${why}`,
    { userMessage: 'Access denied: Gatehouse cannot check its session limits just now; please try again later.' });
}

/** The worker's side: requests to the primary, each with an id and a deadline. */
export function workerLimits(send: (m: FromWorker) => boolean, log: Logger, admitMs = ADMIT_MS): WorkerLimits {
  let nextId = 1;
  const pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: BastionError) => void }>();
  const ask = (msg: Ask, timeoutMs: number): Promise<Answer> => new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => fail(`the primary did not answer within ${timeoutMs} ms`), timeoutMs);
    const done = (): void => { clearTimeout(timer); pending.delete(id); };
    const fail = (why: string): void => { done(); reject(unavailable(why)); };
    pending.set(id, { resolve: (a) => { done(); resolve(a); }, reject: (e) => { done(); reject(e); } });
    if (!send({ ...msg, id } as FromWorker)) fail('the primary is gone');
  });

  const ledger: LimitLedger = {
    async admit(newcomer, rules, policyMax) {
      let a: Answer;
      try {
        a = await ask({
          t: 'admit', admission: newcomer,
          rules: { maxSessions: rules.maxSessions, maxSessionsPerUser: rules.maxSessionsPerUser, onLimit: rules.onLimit },
          ...(policyMax === undefined ? {} : { policy_max: policyMax }),
        }, admitMs);
      } catch (err) {
        const e = err as BastionError;
        log.error({ event: 'session.limit_unavailable', sid: newcomer.id, code: e.code, err: e.message }, 'login refused: the primary did not decide the session limits');
        throw e;
      }
      if (!a.decision) throw unavailable(a.error ?? 'the primary sent no decision');
      return fromWire(a.decision);
    },
    release: (id) => void send({ t: 'release', session_id: id }),
  };
  return {
    ledger,
    async endElsewhere(end) {
      const a = await ask({ t: 'end', end }, END_MS);
      if (a.error) throw new Error(a.error);
      if (!a.ended) log.info({ event: 'session.limit_end_missed', ended: end.session_id }, 'the session to end had already gone');
    },
    onMessage(m) {
      if (m.t !== 'answer') return false;
      pending.get(m.id)?.resolve(m);
      return true;
    },
    disconnected() {
      for (const p of [...pending.values()]) p.reject(unavailable('the primary is gone'));
    },
  };
}

export interface PrimaryLimits {
  /** Handles a worker's admit, release or end; false for any other message. */
  handle(from: { readonly pid: number; send(m: ToWorker): void }, m: FromWorker): boolean;
  /** The worker (its pid) died: its places are free. */
  workerGone(pid: number): void;
}

/**
 * The primary's side. `endOnWorkers` asks every worker to end a session (true if one did); `endOnHosts`
 * (with database.url) ends it on whichever host serves it.
 */
export function primaryLimits(deps: {
  readonly log: Logger;
  readonly endOnWorkers: (end: EndRequest) => Promise<boolean>;
  readonly endOnHosts: () => ((end: EndRequest) => Promise<unknown>) | undefined;
}): PrimaryLimits {
  const ledger = new MemoryLedger();
  const owner = (pid: number): string => `worker:${pid}`;
  const endAnywhere = async (end: EndRequest): Promise<boolean> => {
    if (await deps.endOnWorkers(end)) return true;
    const hosts = deps.endOnHosts();
    return hosts ? (await hosts(end)) !== undefined : false;
  };
  return {
    handle(from, m) {
      if (m.t === 'admit') {
        const d = ledger.admit(m.admission, owner(from.pid), m.rules, m.policy_max);
        from.send({ t: 'answer', id: m.id, decision: toWire(d) });
      } else if (m.t === 'release') {
        ledger.release(m.session_id);
      } else if (m.t === 'end') {
        endAnywhere(m.end).then(
          (ended) => from.send({ t: 'answer', id: m.id, ended }),
          (err: unknown) => {
            deps.log.error({ event: 'session.limit_end_failed', ended: m.end.session_id, err: (err as Error).message }, 'could not end the session where it runs');
            from.send({ t: 'answer', id: m.id, error: (err as Error).message });
          },
        );
      } else return false;
      return true;
    },
    workerGone(pid) {
      const freed = ledger.dropOwner(owner(pid));
      if (freed > 0) deps.log.info({ event: 'limits.released', worker: pid, places: freed }, 'the session-limit places of a lost worker are free');
    },
  };
}

export function toWire(d: SharedDecision): WireDecision {
  if (!d.ok) return { ok: false, rule: d.rule, limit: d.limit, message: d.error.message, user_message: d.error.userMessage };
  return { ok: true, end: d.end ?? [], ...(d.rule === undefined ? {} : { rule: d.rule, limit: d.limit }) };
}

export function fromWire(w: WireDecision): SharedDecision {
  if (!w.ok) return { ok: false, rule: w.rule, limit: w.limit, error: new BastionError('SESSION_LIMIT', w.message, { userMessage: w.user_message }) };
  return { ok: true, end: w.end, ...(w.rule === undefined ? {} : { rule: w.rule, limit: w.limit }) };
}
