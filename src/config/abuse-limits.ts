import { addressListError } from '../target/source-address.js';
import { array, boolean, number, optional, string } from './validator.js';
import type { Issue } from './validator.js';

// The abuse limits of config.yaml (README "Abuse limits"): admission at TCP accept (limits:), penalties for
// sources that misbehave (penalties:), the cap and delay on failed answers. Defaults are safe for a bastion
// whose logins include people typing one-time codes, so a login may be in progress for a while.

export interface AdmissionSettings {
  /** MaxStartups start:rate:full over the logins in progress (rate in percent). */
  readonly start: number;
  readonly rate: number;
  readonly full: number;
  readonly perSource: number;
  readonly perNetwork: number;
  readonly v4Prefix: number;
  readonly v6Prefix: number;
  /** As sshd's MaxAuthTries: failed answers a connection may give before it is ended. */
  readonly maxAuthTries: number;
  /** Wait before the answer to a failed attempt; it grows with each failure of the connection. */
  readonly authFailureDelayMs: number;
}

export interface PenaltyConfig {
  readonly enabled: boolean;
  /** Seconds of penalty added per event of each kind. */
  readonly seconds: { readonly authfail: number; readonly noauth: number; readonly grace_exceeded: number };
  /** A block is refused once its penalty reaches this many ms, and never for more than `maxMs` ahead. */
  readonly minMs: number;
  readonly maxMs: number;
  readonly exempt: readonly string[];
  readonly v4Prefix: number;
  readonly v6Prefix: number;
  /** Bound on the blocks tracked; past it, new blocks are not penalised (OpenSSH's "permissive" overflow). */
  readonly maxSources: number;
}

const STARTUPS = /^(\d{1,6}):(\d{1,3}):(\d{1,6})$/;

const startups = string({ pattern: STARTUPS, hint: 'start:rate:full, for example 100:30:200' });

const seconds = (max: number) => number({ min: 0, max });

/** Keys of `limits:` (the section's other keys are in schema.ts); the defaults live here and nowhere else. */
export const limitsSchema = {
  max_startups: optional(startups, '100:30:200'),
  per_source: optional(number({ integer: true, min: 1, max: 100000 }), 50),
  per_network: optional(number({ integer: true, min: 1, max: 100000 }), 100),
  network_prefix_v4: optional(number({ integer: true, min: 8, max: 32 }), 24),
  network_prefix_v6: optional(number({ integer: true, min: 16, max: 128 }), 64),
  max_auth_tries: optional(number({ integer: true, min: 1, max: 100 }), 6),
  auth_failure_delay: optional(number({ min: 0, max: 30 }), 1),
};

/** The `penalties:` section. */
export const penaltiesSchema = {
  enabled: optional(boolean(), true),
  authfail: optional(seconds(3600), 5),
  noauth: optional(seconds(3600), 1),
  grace_exceeded: optional(seconds(3600), 10),
  min: optional(seconds(86400), 15),
  max: optional(seconds(86400), 600),
  exempt: optional(array(string())),
  prefix_v4: optional(number({ integer: true, min: 8, max: 32 }), 32),
  prefix_v6: optional(number({ integer: true, min: 16, max: 128 }), 64),
  max_sources: optional(number({ integer: true, min: 1, max: 10_000_000 }), 65536),
};

type Raw<S> = { [K in keyof S]: S[K] extends { fallback: infer T } ? T | undefined : never };
type RawLimits = Raw<typeof limitsSchema> & { max_unauthenticated?: number | undefined };

export function resolveAdmission(raw: RawLimits, issues: Issue[]): AdmissionSettings {
  const [start, rate, full] = (STARTUPS.exec(raw.max_startups!) ?? []).slice(1).map(Number) as [number, number, number];
  if (start < 1 || rate > 100 || full < start) {
    issues.push({ path: ['limits', 'max_startups'], message: `"${raw.max_startups!}" needs 1 <= start <= full and a rate of at most 100 (percent)` });
  }
  // The older key caps `full` (and so `start`) where it is set.
  const cap = raw.max_unauthenticated ?? full;
  return {
    start: Math.max(1, Math.min(start, cap)), rate, full: cap,
    perSource: raw.per_source!,
    perNetwork: raw.per_network!,
    v4Prefix: raw.network_prefix_v4!,
    v6Prefix: raw.network_prefix_v6!,
    maxAuthTries: raw.max_auth_tries!,
    authFailureDelayMs: raw.auth_failure_delay! * 1000,
  };
}

export function resolvePenalties(raw: Raw<typeof penaltiesSchema>, issues: Issue[]): PenaltyConfig {
  const exempt = raw.exempt ?? []; // no list: nobody is exempt
  const bad = addressListError(exempt);
  if (bad) issues.push({ path: ['penalties', 'exempt'], message: bad });
  if (raw.max! < raw.min!) issues.push({ path: ['penalties', 'max'], message: `must be at least min (${raw.min!})` });
  return {
    enabled: raw.enabled!,
    seconds: { authfail: raw.authfail!, noauth: raw.noauth!, grace_exceeded: raw.grace_exceeded! },
    minMs: raw.min! * 1000,
    maxMs: raw.max! * 1000,
    exempt: bad ? [] : exempt,
    v4Prefix: raw.prefix_v4!,
    v6Prefix: raw.prefix_v6!,
    maxSources: raw.max_sources!,
  };
}
