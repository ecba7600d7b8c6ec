import { BastionError } from '../core/errors.js';

// How many sessions may be open at once (the seed's "Maximal gleichzeitig"): `max_sessions` for the whole
// Gatehouse, `max_sessions_per_user` globally and per policy. The user is the gateway user the AA plugin
// named, else the server user together with the client address (without a gateway identity, that is the
// closest thing to "the same person"). A session counts from the moment it passes this check (after
// authorization, before the target login), so that two logins finishing together cannot both slip under a
// limit. At a per-user limit, `on_limit` either refuses the newcomer or ends that user's oldest session(s);
// the overall limit always refuses: ending someone else's session for a newcomer would be wrong.

export type OnLimit = 'refuse' | 'end_oldest';

export interface LimitRules {
  /** 0: no limit. */
  readonly maxSessions: number;
  /** 0: no limit. */
  readonly maxSessionsPerUser: number;
  readonly onLimit: OnLimit;
}

export interface Admission {
  readonly id: string;
  readonly user: UserKey;
  readonly policy: string;
  readonly startedAt: number;
}

export interface UserKey {
  /** What sessions are grouped by. */
  readonly key: string;
  /** How messages name the user. */
  readonly label: string;
}

export function userKey(gatewayUser: string | undefined, serverUser: string, clientIp: string): UserKey {
  return gatewayUser !== undefined
    ? { key: `gw:${gatewayUser}`, label: gatewayUser }
    : { key: `srv:${serverUser}@${clientIp}`, label: `${serverUser} from ${clientIp}` };
}

export type Decision =
  | { readonly ok: true; readonly end: readonly Admission[]; readonly rule?: string; readonly limit?: number }
  | { readonly ok: false; readonly error: BastionError; readonly rule: string; readonly limit: number };

/**
 * Whether `newcomer` may join the sessions already admitted, under the global rules and its policy's own
 * max_sessions_per_user (undefined: none). `end` lists the sessions to end first (oldest first).
 */
export function decide(newcomer: Admission, admitted: readonly Admission[], rules: LimitRules, policyMaxPerUser: number | undefined): Decision {
  if (rules.maxSessions > 0 && admitted.length >= rules.maxSessions) {
    return {
      ok: false, rule: 'sessions.max_sessions', limit: rules.maxSessions,
      error: new BastionError('SESSION_LIMIT', `${admitted.length} sessions open, the most sessions.max_sessions allows (${rules.maxSessions})`,
        { userMessage: 'Access denied: Gatehouse has as many sessions open as it allows; please try again later.' }),
    };
  }
  const mine = admitted.filter((a) => a.user.key === newcomer.user.key).sort((a, b) => a.startedAt - b.startedAt);
  const checks: [string, number, readonly Admission[]][] = [];
  if (policyMaxPerUser !== undefined && policyMaxPerUser > 0) {
    checks.push([`policies.${newcomer.policy}.max_sessions_per_user`, policyMaxPerUser, mine.filter((a) => a.policy === newcomer.policy)]);
  }
  if (rules.maxSessionsPerUser > 0) checks.push(['sessions.max_sessions_per_user', rules.maxSessionsPerUser, mine]);
  const end = new Set<Admission>();
  let applied: { rule: string; limit: number } | undefined;
  for (const [rule, limit, open] of checks) {
    const left = open.filter((a) => !end.has(a));
    if (left.length < limit) continue;
    const plural = limit === 1 ? 'session' : 'sessions';
    if (rules.onLimit === 'refuse') {
      return {
        ok: false, rule, limit,
        error: new BastionError('SESSION_LIMIT', `${newcomer.user.label} has ${left.length} sessions open, the most ${rule} allows (${limit})`,
          { userMessage: `Access denied: ${newcomer.user.label} already has ${left.length} ${left.length === 1 ? 'session' : 'sessions'} open, and at most ${limit} ${plural} may be open at once.` }),
      };
    }
    for (const a of left.slice(0, left.length - limit + 1)) end.add(a);
    applied = { rule, limit };
  }
  return applied ? { ok: true, end: [...end], ...applied } : { ok: true, end: [] };
}

/** What the user of a session ended to make room reads. */
export function endedForLimit(user: UserKey, rule: string, limit: number): BastionError {
  return new BastionError('SESSION_LIMIT', `ended to make room for a newer session of ${user.label} (${rule}: ${limit})`, {
    userMessage: `Session ended: ${user.label} opened a newer session, and at most ${limit} ${limit === 1 ? 'session' : 'sessions'} may be open at once.`,
  });
}
