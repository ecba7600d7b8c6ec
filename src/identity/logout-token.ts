import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { IdentityProviderConfig } from '../config/identity-logout.js';

// Validation of an OpenID Connect Back-Channel Logout 1.0 logout token (section 2.6), in the order the
// specification gives: a known issuer, the signature against that issuer's keys, iss, aud, iat within the
// window (and exp when present), the back-channel logout event, sid or sub, no nonce, and a jti never seen
// before. Any failure is a LogoutTokenError whose message says why (it is logged and sent back in the 400).

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Deadline for fetching a provider's discovery document or keys. */
const FETCH_MS = 5_000;
/** Clock difference tolerated between the provider and Gatehouse. */
const CLOCK_SKEW_S = 30;

export class LogoutTokenError extends Error {}

/**
 * The jti values seen by every Gatehouse host sharing one database (store/pg-logout-replay.ts): a token
 * replayed to another host behind the same load balancer is refused there too.
 */
export interface SharedReplay {
  /** Records the jti until `expiresAt` (ms); false when some host recorded it already. */
  remember(issuer: string, jti: string, expiresAt: number): Promise<boolean>;
}

export interface LogoutClaims {
  readonly issuer: string;
  readonly jti: string;
  readonly sid: string | undefined;
  readonly sub: string | undefined;
}

/**
 * The jti values seen within the token age window, per issuer. Bounded: an entry is dropped once its token
 * would be too old to be accepted anyway; when full of live entries, new tokens are refused (fail closed)
 * rather than forgetting a jti that could then be replayed.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries: number, private readonly ttlMs: number) {}

  /** Records the jti; false when it was seen already. Throws when full. */
  remember(issuer: string, jti: string, now: number): boolean {
    for (const [k, expires] of this.seen) {
      if (expires > now) break; // insertion order is expiry order: the rest are younger
      this.seen.delete(k);
    }
    const key = `${issuer}\n${jti}`;
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.maxEntries) throw new LogoutTokenError('replay cache is full; token refused');
    this.seen.set(key, now + this.ttlMs);
    return true;
  }

  /** Drops a jti recorded for a token that was then not acted on (the shared record failed), so a retry is taken. */
  forget(issuer: string, jti: string): void {
    this.seen.delete(`${issuer}\n${jti}`);
  }

  get size(): number {
    return this.seen.size;
  }
}

/** One configured provider's signing keys, found through jwks_uri or the issuer's discovery document. */
class ProviderKeys {
  private keys: Promise<JWTVerifyGetKey> | undefined;

  constructor(readonly config: IdentityProviderConfig) {}

  get(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.locate().catch((err: unknown) => {
      this.keys = undefined; // try again on the next token
      throw err;
    });
    return this.keys;
  }

  private async locate(): Promise<JWTVerifyGetKey> {
    let jwksUri = this.config.jwksUri;
    if (!jwksUri) {
      const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_MS), redirect: 'error' });
      if (!res.ok) throw new LogoutTokenError(`discovery ${url} answered HTTP ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (doc.issuer !== this.config.issuer) throw new LogoutTokenError(`discovery ${url} names another issuer`);
      if (typeof doc.jwks_uri !== 'string') throw new LogoutTokenError(`discovery ${url} has no jwks_uri`);
      jwksUri = doc.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: FETCH_MS });
  }
}

export class LogoutTokenVerifier {
  private readonly providers: Map<string, ProviderKeys>;
  private readonly replay: ReplayCache;
  private readonly rememberMs: number;

  /** `shared`: with database.url, the record of every host's jti values, checked after this process's own. */
  constructor(providers: readonly IdentityProviderConfig[], private readonly maxAgeMs: number, replayCacheSize: number, private readonly shared?: SharedReplay) {
    this.providers = new Map(providers.map((p) => [p.issuer, new ProviderKeys(p)]));
    // A jti must be remembered as long as a token carrying it could still pass the iat check.
    this.rememberMs = maxAgeMs + 2 * CLOCK_SKEW_S * 1000;
    this.replay = new ReplayCache(replayCacheSize, this.rememberMs);
  }

  async verify(token: string, now = Date.now()): Promise<LogoutClaims> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new LogoutTokenError('logout_token is not a JWT');
    }
    const provider = typeof unverified.iss === 'string' ? this.providers.get(unverified.iss) : undefined;
    if (!provider) throw new LogoutTokenError(`issuer ${JSON.stringify(unverified.iss)} is not configured`);
    let keys: JWTVerifyGetKey;
    try {
      keys = await provider.get();
    } catch (err) {
      throw new LogoutTokenError(`keys of ${provider.config.issuer} unavailable: ${(err as Error).message}`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: provider.config.issuer,
        audience: provider.config.audience,
        requiredClaims: ['iat', 'jti', 'events'],
        maxTokenAge: Math.floor(this.maxAgeMs / 1000),
        clockTolerance: CLOCK_SKEW_S,
        currentDate: new Date(now),
      }));
    } catch (err) {
      throw new LogoutTokenError(describeJoseError(err));
    }
    const events = payload['events'];
    if (typeof events !== 'object' || events === null || Array.isArray(events)) throw new LogoutTokenError('events is not a JSON object');
    const event = (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT];
    if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new LogoutTokenError('events has no back-channel logout event');
    const sid = payload['sid'];
    const sub = payload.sub;
    if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw new LogoutTokenError('sid is not a string');
    if (sub !== undefined && (typeof sub !== 'string' || sub === '')) throw new LogoutTokenError('sub is not a string');
    if (sid === undefined && sub === undefined) throw new LogoutTokenError('neither sid nor sub');
    if ('nonce' in payload) throw new LogoutTokenError('a logout token must not carry a nonce');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new LogoutTokenError('jti is not a string');
    if (!this.replay.remember(provider.config.issuer, payload.jti, now)) throw new LogoutTokenError(`jti ${payload.jti} was used before (replay)`);
    if (this.shared) {
      let fresh: boolean;
      try {
        fresh = await this.shared.remember(provider.config.issuer, payload.jti, now + this.rememberMs);
      } catch (err) {
        // Not acted on: the provider's retry of this token must not be taken for a replay here.
        this.replay.forget(provider.config.issuer, payload.jti);
        throw err;
      }
      if (!fresh) throw new LogoutTokenError(`jti ${payload.jti} was used before, on another Gatehouse host (replay)`);
    }
    return { issuer: provider.config.issuer, jti: payload.jti, sid: sid as string | undefined, sub };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return `expired: ${err.message}`;
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim}: ${err.message}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify against the issuer\'s keys';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches the token';
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  return (err as Error).message ?? String(err);
}
