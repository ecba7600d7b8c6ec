import type { AdmissionRow, PgAdmissions } from '../store/pg-admissions.js';
import { decide, type Admission, type Decision, type LimitRules } from './session-limits.js';

// The session limits across Gatehouse hosts: the same decision as on one host (session-limits.ts), taken
// over the admissions of every host that shares the database (store/pg-admissions.ts). A session to end to
// make room may run on another host: it comes back with that host's name, for the caller to end it there
// (the control socket's terminate across hosts does that).

export interface SharedAdmission extends Admission {
  /** The Gatehouse host it runs on. */
  readonly instance: string;
}

export type SharedDecision = Decision & { readonly end?: readonly SharedAdmission[] };

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
