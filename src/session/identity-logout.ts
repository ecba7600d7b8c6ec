import { BastionError } from '../core/errors.js';
import type { SessionRegistry } from './registry.js';

// The one place that decides which live sessions an identity provider's logout ends, whatever carried the
// logout here: the back-channel listener of this process, the primary of `workers: N` passing it to its
// workers, or another Gatehouse host over the shared database (control/hosts-sessions.ts).

export const IDP_LOGOUT_MESSAGE = 'Your sign-in session ended at the identity provider.';

/** A verified logout token's claims that say whom it ends (identity/logout-token.ts checks them). */
export interface IdentityLogout {
  readonly issuer: string;
  readonly jti: string;
  readonly sid: string | undefined;
  readonly sub: string | undefined;
}

/** Something that ends the sessions an identity logout names: this process's, every worker's, every host's. */
export interface IdentityEnder {
  /** Ends the matching live sessions; returns their ids. */
  endByIdentity(logout: IdentityLogout): Promise<string[]>;
}

/** A logout that crossed a process or host boundary as JSON: undefined unless it has the right shape. */
export function parseIdentityLogout(v: unknown): IdentityLogout | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string' && x !== '';
  const opt = (x: unknown): x is string | undefined | null => x === undefined || x === null || str(x);
  if (!str(o['issuer']) || !str(o['jti']) || !opt(o['sid']) || !opt(o['sub'])) return undefined;
  const sid = str(o['sid']) ? o['sid'] : undefined;
  const sub = str(o['sub']) ? o['sub'] : undefined;
  if (sid === undefined && sub === undefined) return undefined;
  return { issuer: o['issuer'], jti: o['jti'], sid, sub };
}

/** Ends the registry's sessions bound to the logout's provider session (sid), or to all of its user's (sub). */
export function endSessionsByIdentity(registry: SessionRegistry, c: IdentityLogout): string[] {
  const ended: string[] = [];
  for (const s of registry.list()) {
    const id = s.identity;
    if (s.closed || !id || id.issuer !== c.issuer) continue;
    // Back-Channel Logout 1.0 section 2.7: with a sid, that provider session (and, if sub is also given,
    // only if it is that user's); without one, every session of the user.
    const match = c.sid !== undefined ? id.sid === c.sid && (c.sub === undefined || id.subject === c.sub) : id.subject === c.sub;
    if (!match) continue;
    s.noteEndedBy(`logout_token jti=${c.jti} iss=${c.issuer}`);
    void s.close('idp_logout', new BastionError('IDP_LOGOUT', `ended by the back-channel logout token ${c.jti} from ${c.issuer}`,
      { userMessage: IDP_LOGOUT_MESSAGE }));
    ended.push(s.id);
  }
  return ended;
}
