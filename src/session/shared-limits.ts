import type { AdmissionRow, PgAdmissions } from '../store/pg-admissions.js';
import { decide, type Admission, type Decision, type LimitRules, type UserKey } from './session-limits.js';

// The session limits across Gatehouse processes: the same decision as in one process (session-limits.ts),
// taken over the admissions of every process that shares a ledger. Two ledgers keep that place: PostgreSQL
// for several hosts (store/pg-admissions.ts), and the primary's memory for the workers of one host without a
// database (MemoryLedger below, asked over the cluster IPC channel by cli/cluster-ledger.ts). Both sit behind
// LimitLedger, so that the registry has one path. A session to end to make room may run elsewhere: it comes
// back with where it runs, for the caller to end it there.

export interface SharedAdmission extends Admission {
  /** Where it runs: the Gatehouse host (PostgreSQL) or `worker:PID` (the primary's ledger). */
  readonly instance: string;
}

export type SharedDecision = Decision & { readonly end?: readonly SharedAdmission[] };

/** A session to be ended elsewhere to make room, and why (what its user reads). */
export interface EndRequest {
  readonly session_id: string;
  readonly user: UserKey;
  readonly rule: string;
  readonly limit: number;
}

/** Where admissions are decided when more than this process counts. */
export interface LimitLedger {
  /** Decides over every admitted session; if it admits, `newcomer` is recorded and `end` struck. */
  admit(newcomer: Admission, rules: LimitRules, policyMaxPerUser: number | undefined): Promise<SharedDecision>;
  /** The session ended (or never got in): its place is free. Never throws; a lost release is cleared at restart. */
  release(sessionId: string): void;
}

export async function decideShared(ledger: PgAdmissions, newcomer: Admission, rules: LimitRules, policyMaxPerUser: number | undefined): Promise<SharedDecision> {
  const toAdmission = (r: AdmissionRow): SharedAdmission => ({
    id: r.session_id, user: { key: r.user_key, label: r.user_label }, policy: r.policy, startedAt: r.started_at, instance: r.instance,
  });
  return ledger.admit({
    session_id: newcomer.id, user_key: newcomer.user.key, user_label: newcomer.user.label, policy: newcomer.policy, started_at: newcomer.startedAt,
  }, (rows) => {
    const d = decide(newcomer, rows.filter((r) => r.session_id !== newcomer.id).map(toAdmission), rules, policyMaxPerUser);
    return d.ok ? { ...d, end: d.end as SharedAdmission[] } : { ...d, end: [] };
  });
}

/** PostgreSQL as a LimitLedger. */
export function pgLedger(pg: PgAdmissions): LimitLedger {
  return {
    admit: (newcomer, rules, policyMax) => decideShared(pg, newcomer, rules, policyMax),
    release: (id) => void pg.release(id).catch(() => undefined),
  };
}

/**
 * The admissions of every worker of one host, kept by the primary. Decisions are synchronous, and the primary
 * takes its workers' requests one at a time on its event loop, so two logins in two workers cannot both slip
 * under a limit.
 */
export class MemoryLedger {
  private readonly admitted = new Map<string, SharedAdmission>();

  admit(newcomer: Admission, owner: string, rules: LimitRules, policyMaxPerUser: number | undefined): SharedDecision {
    const others = [...this.admitted.values()].filter((a) => a.id !== newcomer.id);
    const d = decide(newcomer, others, rules, policyMaxPerUser);
    if (!d.ok) return d;
    const end = d.end as SharedAdmission[];
    for (const e of end) this.admitted.delete(e.id);
    this.admitted.set(newcomer.id, { ...newcomer, instance: owner });
    return { ...d, end };
  }

  release(sessionId: string): void {
    this.admitted.delete(sessionId);
  }

  /** A worker died: its sessions are gone, and so are their places. Returns how many were freed. */
  dropOwner(owner: string): number {
    let n = 0;
    for (const [id, a] of this.admitted) {
      if (a.instance !== owner) continue;
      this.admitted.delete(id);
      n++;
    }
    return n;
  }

  get size(): number {
    return this.admitted.size;
  }
}
