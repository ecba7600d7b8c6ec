import type { Logger } from 'pino';
import type { ExpiryRules, SessionStore } from './session-db.js';

// Expiry in the background: rows of sessions that never logged in go after anonymous_expiry seconds, every
// ended row after retention_days. One pass at start and then every `everyMs`; the timer is unref'd so that it
// never keeps the process alive, and the rules are read on each pass so that a reload applies them.

export interface ExpiryRunner {
  /** One pass now (also what the timer runs); resolves with the rows removed. */
  runNow(): Promise<number>;
  stop(): void;
}

export function startExpiry(store: SessionStore, rules: () => ExpiryRules, log: Logger, everyMs = 60_000): ExpiryRunner {
  let running: Promise<number> | undefined;
  let stopped = false;
  const runNow = (): Promise<number> => {
    // Passes never overlap: a slow one (a large first expiry) is joined, not doubled.
    running ??= (async () => {
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
  const timer = setInterval(() => void runNow(), everyMs);
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
