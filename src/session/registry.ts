import { BastionError } from '../core/errors.js';
import { decide, endedForLimit, userKey, type Admission } from './session-limits.js';
import type { CloseReason, Session } from './session.js';
import type { EndRequest, LimitLedger } from './shared-limits.js';

// The live sessions of this Gatehouse process: counted for limits, listed for admins, drained on shutdown.

/** "2 minutes", "90 seconds", "1 second": whole minutes where the limit is some. */
function span(ms: number): string {
  const [n, unit] = ms >= 60_000 && ms % 60_000 === 0 ? [ms / 60_000, 'minute'] : [Math.round(ms / 1000), 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Told of every session that comes and goes (a worker tells its primary, which outlives it). */
export interface RegistryWatcher {
  added(s: Session): void;
  removed(s: Session): void;
}

export class SessionRegistry {
  /**
   * Ends one of this process's sessions that a login elsewhere (another worker or host) pushed out under a
   * per-user limit; its user reads why. Undefined when it does not run here (or has ended).
   */
  endForLimit(end: EndRequest): Session | undefined {
    const s = this.list().find((x) => x.id === end.session_id);
    if (!s || s.closed) return undefined;
    s.log.warn({ event: 'session.limit', rule: end.rule, limit: end.limit, user: end.user.label, action: 'ended_for_newer' },
      'session ended to make room for a newer session of its user in another Gatehouse process');
    void s.close('session_limit', endedForLimit(end.user, end.rule, end.limit));
    return s;
  }

  private readonly sessions = new Set<Session>();
  private watcher: RegistryWatcher | undefined;
  private shared: { readonly ledger: LimitLedger; readonly endElsewhere: (end: EndRequest) => Promise<unknown> } | undefined;
  /** Sessions counted against the limits (session-limits.ts), from the end of their authorization. */
  private readonly admitted = new Map<Session, Admission>();

  watch(w: RegistryWatcher): void {
    this.watcher = w;
  }

  add(s: Session): void {
    this.sessions.add(s);
    this.watcher?.added(s);
  }

  remove(s: Session): void {
    if (this.sessions.delete(s)) this.watcher?.removed(s);
    this.admitted.delete(s);
    // Its place is free in every process (a failed release is left to the next start, or the worker's death).
    this.shared?.ledger.release(s.id);
  }

  /**
   * Counts `s` against max_sessions and max_sessions_per_user (its session's configuration), once its user is
   * known. Throws SESSION_LIMIT to refuse it, or ends that user's oldest sessions (on_limit: end_oldest).
   * Synchronous, so that two logins finishing together cannot both pass under a limit.
   */
  /**
   * With several hosts sharing a database, or several workers: the limits are decided over every process's
   * admissions (`ledger`), and a session to end that runs elsewhere is ended through `endElsewhere`.
   */
  share(ledger: LimitLedger, endElsewhere: (end: EndRequest) => Promise<unknown>): void {
    this.shared = { ledger, endElsewhere };
  }

  /** admit() across hosts or workers when share() was called, else admit(). */
  async admitAnywhere(s: Session): Promise<void> {
    if (!this.shared) return this.admit(s);
    const { ledger, endElsewhere } = this.shared;
    const cfg = s.runtime.config.sessions;
    const user = userKey(s.gateway?.user, s.serverUser ?? '', s.client.ip);
    const me: Admission = { id: s.id, user, policy: s.policy?.name ?? '', startedAt: s.startedAt };
    const d = await ledger.admit(me, cfg, s.policy?.maxSessionsPerUser);
    if (!d.ok) {
      s.log.warn({ event: 'session.limit', rule: d.rule, limit: d.limit, user: user.label, action: 'refused', code: d.error.code, shared: true }, 'session limit reached across processes; login refused');
      throw d.error;
    }
    for (const old of d.end ?? []) {
      const victim = [...this.admitted.keys()].find((x) => x.id === old.id);
      s.log.warn({ event: 'session.limit', rule: d.rule, limit: d.limit, user: user.label, action: 'ended_oldest', ended: old.id, instance: old.instance }, 'session limit reached; the oldest session of the user ended');
      if (victim) {
        this.admitted.delete(victim);
        void victim.close('session_limit', endedForLimit(user, d.rule!, d.limit!));
      } else {
        endElsewhere({ session_id: old.id, user, rule: d.rule!, limit: d.limit! })
          .catch((err: unknown) => s.log.error({ event: 'session.limit_end_failed', ended: old.id, instance: old.instance, err: (err as Error).message }, 'could not end the session where it runs'));
      }
    }
    this.admitted.set(s, me);
  }

  admit(s: Session): void {
    const cfg = s.runtime.config.sessions;
    const user = userKey(s.gateway?.user, s.serverUser ?? '', s.client.ip);
    const me: Admission = { id: s.id, user, policy: s.policy?.name ?? '', startedAt: s.startedAt };
    const open = [...this.admitted].filter(([x]) => !x.closed);
    const d = decide(me, open.map(([, a]) => a), cfg, s.policy?.maxSessionsPerUser);
    if (!d.ok) {
      s.log.warn({ event: 'session.limit', rule: d.rule, limit: d.limit, user: user.label, action: 'refused', code: d.error.code }, 'session limit reached; login refused');
      throw d.error;
    }
    for (const old of d.end) {
      const victim = open.find(([, a]) => a === old)?.[0];
      if (!victim) continue;
      this.admitted.delete(victim);
      s.log.warn({ event: 'session.limit', rule: d.rule, limit: d.limit, user: user.label, action: 'ended_oldest', ended: victim.id }, 'session limit reached; the oldest session of the user ended');
      void victim.close('session_limit', endedForLimit(user, d.rule!, d.limit!));
    }
    this.admitted.set(s, me);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions still logging in (a bound on these is the defence against login floods). */
  get loggingIn(): number {
    let n = 0;
    for (const s of this.sessions) if (s.phase === 'login') n++;
    return n;
  }

  /**
   * Ends the logged-in sessions that have been idle (no data either way) longer than their policy's
   * idle_timeout. Called about once a second by the composition root: one pass over the sessions costs
   * less than a timer per session.
   */
  sweepIdle(now: number): void {
    for (const s of this.sessions) {
      const limitMs = s.policy?.idleTimeoutMs ?? 0;
      if (s.phase !== 'active' || limitMs <= 0 || s.idleMs(now) < limitMs) continue;
      void s.close('idle_timeout', new BastionError('IDLE_TIMEOUT', `no data either way for ${limitMs} ms (policy idle_timeout)`,
        { userMessage: `Session idle for ${span(limitMs)}; disconnected.` }));
    }
  }

  list(): Session[] {
    return [...this.sessions];
  }

  /** Closes every session (each runs session_ended within `hookTimeoutMs`); resolves when all have closed. */
  async closeAll(reason: CloseReason, error?: BastionError, hookTimeoutMs?: number): Promise<void> {
    await Promise.all(this.list().map((s) => s.close(reason, error, hookTimeoutMs)));
  }
}
