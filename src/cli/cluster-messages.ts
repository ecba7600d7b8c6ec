import type { SessionSummary } from '../control/control-protocol.js';
import type { IdentityLogout } from '../session/identity-logout.js';

// What the primary and its workers say to each other over the cluster IPC channel (JSON). The primary asks
// (list, terminate, reload, shutdown) with a request id; the worker answers with the same id, and tells the
// primary unasked when it is ready and when a session comes or goes, so that the primary can account for the
// sessions of a worker that dies.

export type ToWorker =
  | { readonly t: 'list'; readonly id: number }
  | { readonly t: 'terminate'; readonly id: number; readonly session_id: string }
  | { readonly t: 'reload'; readonly id: number }
  | { readonly t: 'shutdown' }
  /** A logout token the primary's listener verified: end the matching sessions, answer with their ids (`ended`). */
  | { readonly t: 'identity_logout'; readonly id: number; readonly logout: IdentityLogout };

export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'reply'; readonly id: number; readonly sessions?: SessionSummary[]; readonly ended?: string[]; readonly error?: string }
  | { readonly t: 'session'; readonly open: boolean; readonly session: SessionSummary };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && ['list', 'terminate', 'reload', 'shutdown', 'identity_logout'].includes(String((m as { t?: unknown }).t));
}
