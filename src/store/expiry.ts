import type { Logger } from 'pino';
import type { ExpiryRules, SessionStore } from './session-db.js';

// Expiry in the background: rows of sessions that never logged in go after anonymous_expiry seconds, every
// ended row after retention_days. One pass at start, then one every minute, or every half anonymous_expiry
// when that is shorter (at least a second apart), so that a row is not kept much longer than it may be. The
// timer is unref'd so that it never keeps the process alive; the rules are read on each pass so that a reload
// applies them.

const MAX_EVERY_MS = 60_000;
const MIN_EVERY_MS = 1_000;

export interface ExpiryRunner {
  /** One pass now (also what the timer runs); resolves with the rows removed. */
  runNow(): Promise<number>;
  stop(): void;
}

export function expiryInterval(rules: ExpiryRules): number {
  const half = rules.anonymousExpirySeconds > 0 ? (rules.anonymousExpirySeconds * 1000) / 2 : MAX_EVERY_MS;
  return Math.max(MIN_EVERY_MS, Math.min(MAX_EVERY_MS, half));
}

export function startExpiry(store: SessionStore, rules: () => ExpiryRules, log: Logger, everyMs?: number): ExpiryRunner {
  let running: Promise<number> | undefined;
  let stopped = false;
  let lastRun = Date.now();
  const runNow = (): Promise<number> => {
    // Passes never overlap: a slow one (a large first expiry) is joined, not doubled.
    running ??= (async () => {
      lastRun = Date.now();
      try {
        const n = stopped ? 0 : await store.expire(Date.now(), rules());
        if (n > 0) log.info({ event: 'store.expired', rows: n }, 'expired session rows removed');
        return n;
      } catch (err) {
        log.error({ event: 'store.error', err }, 'session expiry failed');
        return 0;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  // A cheap check every second (or every `everyMs`) rather than one long timer, so that a reload that shortens
  // anonymous_expiry takes effect at once.
  const tick = Math.min(everyMs ?? MIN_EVERY_MS, MIN_EVERY_MS);
  const timer = setInterval(() => {
    if (Date.now() - lastRun >= (everyMs ?? expiryInterval(rules()))) void runNow();
  }, tick);
  timer.unref();
  void runNow();
  return {
    runNow,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
