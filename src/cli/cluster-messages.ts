import type { SessionSummary } from '../control/control-protocol.js';
import type { Admission, LimitRules } from '../session/session-limits.js';
import type { EndRequest, SharedAdmission } from '../session/shared-limits.js';
import type { PenaltyEntry, PenaltyKind } from '../ssh/penalties.js';

// What the primary and its workers say to each other over the cluster IPC channel (JSON). The primary asks
// (list, terminate, reload, shutdown) with a request id; the worker answers with the same id, and tells the
// primary unasked when it is ready and when a session comes or goes, so that the primary can account for the
// sessions of a worker that dies. Workers ask too (cluster-ledger.ts: admit under the session limits, end a
// session on another worker; each with its own request id, answered with `answer`), and report penalty events,
// which the primary mirrors back to every worker (cluster-penalties.ts).

/** A limits decision as it crosses the channel (a refusal's error is rebuilt on the worker's side). */
export type WireDecision =
  | { readonly ok: true; readonly end: readonly SharedAdmission[]; readonly rule?: string; readonly limit?: number }
  | { readonly ok: false; readonly rule: string; readonly limit: number; readonly message: string; readonly user_message: string };

export type ToWorker =
  | { readonly t: 'list'; readonly id: number }
  | { readonly t: 'terminate'; readonly id: number; readonly session_id: string }
  | { readonly t: 'reload'; readonly id: number }
  | { readonly t: 'shutdown' }
  /** End this session (if it runs here) to make room under a per-user limit; answered with `reply`. */
  | { readonly t: 'end'; readonly id: number; readonly end: EndRequest }
  /** The answer to a worker's own request. */
  | { readonly t: 'answer'; readonly id: number; readonly decision?: WireDecision; readonly ended?: boolean; readonly error?: string }
  /** Penalty entries to mirror, and blocks cleared. */
  | { readonly t: 'penalties'; readonly set?: readonly PenaltyEntry[]; readonly clear?: readonly string[] };

export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'reply'; readonly id: number; readonly sessions?: SessionSummary[]; readonly error?: string }
  | { readonly t: 'session'; readonly open: boolean; readonly session: SessionSummary }
  | { readonly t: 'admit'; readonly id: number; readonly admission: Admission; readonly rules: LimitRules; readonly policy_max?: number }
  | { readonly t: 'release'; readonly session_id: string }
  | { readonly t: 'end'; readonly id: number; readonly end: EndRequest }
  | { readonly t: 'penalty'; readonly ip: string; readonly kind: PenaltyKind };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && ['list', 'terminate', 'reload', 'shutdown', 'end', 'answer', 'penalties'].includes(String((m as { t?: unknown }).t));
}
