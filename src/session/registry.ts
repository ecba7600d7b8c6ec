import type { BastionError } from '../errors.js';
import type { CloseReason, Session } from './session.js';

// The live sessions of this Gatehouse process: counted for limits, listed for admins, drained on shutdown.

export class SessionRegistry {
  private readonly sessions = new Set<Session>();

  add(s: Session): void {
    this.sessions.add(s);
  }

  remove(s: Session): void {
    this.sessions.delete(s);
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

  list(): Session[] {
    return [...this.sessions];
  }

  /** Closes every session (each runs session_ended within `hookTimeoutMs`); resolves when all have closed. */
  async closeAll(reason: CloseReason, error?: BastionError, hookTimeoutMs?: number): Promise<void> {
    await Promise.all(this.list().map((s) => s.close(reason, error, hookTimeoutMs)));
  }
}
