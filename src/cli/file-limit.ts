import { readFileSync } from 'node:fs';

// Each proxied session holds two sockets (the client's and the target's), so the open-file limit caps the
// sessions one Gatehouse can hold. Distributions often start services with a soft limit of 1,024: about 480
// sessions, after which new connections fail with EMFILE. Gatehouse says so at start-up, with the fix.

/** Files Gatehouse keeps open besides sessions: listeners, logs, plugin runners, the store. */
const RESERVED = 64;
/** Below this limit, start-up warns. */
export const LOW_FILE_LIMIT = 4096;

/** The soft limit on open files ("Max open files" in /proc/self/limits), or undefined where unknown. */
export function openFileLimit(limits = readLimits()): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** About how many sessions `limit` open files leave room for. */
export function sessionsWithin(limit: number): number {
  return Math.max(0, Math.floor((limit - RESERVED) / 2));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}
