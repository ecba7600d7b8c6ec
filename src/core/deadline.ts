// Every wait in Gatehouse has a deadline. These two helpers are the only place a promise is raced against a
// timer, so that each such wait clears its timer whichever way it ends (a forgotten timer keeps a closed
// session's objects alive until it fires).

/** Rejects with `onTimeout` (an error, or a function making one) if `p` has not settled within `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: Error | (() => Error)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(typeof onTimeout === 'function' ? onTimeout() : onTimeout), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with what `p` resolves to, or with `fallback` once `ms` have passed; never rejects (a rejection of
 * `p` also gives `fallback`). For waits whose expiry is an answer, not an error: "drained or not".
 */
export function settleWithin<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.catch(() => fallback),
    new Promise<F>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
