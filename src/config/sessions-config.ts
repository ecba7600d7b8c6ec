import { number, object, oneOf, optional } from './validator.js';

// The `sessions` block of config.yaml: what the connection database keeps, for how long, and how many sessions
// may be open at once (see the README's config.yaml reference).

export const STORAGE_POLICIES = ['persistent', 'authenticated', 'ended', 'none'] as const;
export type StoragePolicy = (typeof STORAGE_POLICIES)[number];
export const ON_LIMIT = ['refuse', 'end_oldest'] as const;

const count = (max: number) => optional(number({ integer: true, min: 0, max }), 0);

export const sessionsSchema = object({
  storage: optional(oneOf(STORAGE_POLICIES), 'persistent'),
  anonymous_expiry: optional(number({ min: 0, max: 10 * 365 * 86400 }), 86400),
  retention_days: optional(number({ min: 0, max: 100 * 365 }), 0),
  max_sessions_per_user: count(100_000),
  on_limit: optional(oneOf(ON_LIMIT), 'refuse'),
  max_sessions: count(1_000_000),
});

/** The policy key of the same name. */
export const policyMaxSessionsPerUser = optional(number({ integer: true, min: 0, max: 100_000 }));

export interface SessionsConfig {
  readonly storage: StoragePolicy;
  readonly anonymousExpirySeconds: number;
  readonly retentionDays: number;
  readonly maxSessionsPerUser: number;
  readonly onLimit: (typeof ON_LIMIT)[number];
  readonly maxSessions: number;
}

type RawSessions = NonNullable<ReturnType<typeof sessionsSchema>>;

export function resolveSessions(raw: Partial<RawSessions> | undefined): SessionsConfig {
  return {
    storage: raw?.storage ?? 'persistent',
    anonymousExpirySeconds: raw?.anonymous_expiry ?? 86400,
    retentionDays: raw?.retention_days ?? 0,
    maxSessionsPerUser: raw?.max_sessions_per_user ?? 0,
    onLimit: raw?.on_limit ?? 'refuse',
    maxSessions: raw?.max_sessions ?? 0,
  };
}
