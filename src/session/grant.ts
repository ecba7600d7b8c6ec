import type { Client as SshClient } from 'ssh2';
import type { Policy } from '../config/config.js';
import type { ResolvedTarget } from '../target/resolved-target.js';

// What a finished login hands to its session: who may go where, decided once and frozen. Only login.ts makes
// one (makeGrant), and Session.activate(grant) is the only way for a session to become active, so a session
// can never carry channels without every check of the login behind it.

export interface GatewayIdentity {
  readonly user: string;
  readonly groups: readonly string[];
}

declare const grantBrand: unique symbol;

export interface LoginGrant {
  readonly policy: Policy;
  readonly target: ResolvedTarget;
  readonly serverUser: string;
  readonly gateway: GatewayIdentity | undefined;
  /** The target connection, logged in and host key verified. */
  readonly upstream: SshClient;
  readonly [grantBrand]: true;
}

export function makeGrant(g: Omit<LoginGrant, typeof grantBrand>): LoginGrant {
  return Object.freeze({ ...g }) as LoginGrant;
}
