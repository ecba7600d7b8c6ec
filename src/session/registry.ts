import { BastionError } from '../core/errors.js';
import type { CloseReason, Session } from './session.js';

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
  private readonly sessions = new Set<Session>();
  private watcher: RegistryWatcher | undefined;

  watch(w: RegistryWatcher): void {
    this.watcher = w;
  }

  add(s: Session): void {
    this.sessions.add(s);
    this.watcher?.added(s);
  }

  remove(s: Session): void {
    if (this.sessions.delete(s)) this.watcher?.removed(s);
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
