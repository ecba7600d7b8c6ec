import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { IdentityLogoutConfig } from '../config/identity-logout.js';
import type { IdentityEnder } from '../session/identity-logout.js';
import { PgLogoutReplay } from '../store/pg-logout-replay.js';
import { IdentityLogoutListener } from './logout-listener.js';

// The back-channel logout listener as one process runs it: the single process of `workers: 1`, or the
// primary of `workers: N` (workers never open it, so that one replay cache and one verifier see every token).
// With database.url the jti values are also recorded in the shared database, and `sessions` reaches every host.

export interface IdentityLogoutService {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function startIdentityLogout(config: IdentityLogoutConfig, database: { readonly url: string } | undefined, sessions: IdentityEnder,
  log: Logger): Promise<IdentityLogoutService> {
  const shared = database ? await PgLogoutReplay.open(database.url) : undefined;
  const listener = new IdentityLogoutListener(config, sessions, log, shared);
  let address: AddressInfo;
  try {
    address = await listener.listen();
  } catch (err) {
    await shared?.close();
    throw err;
  }
  return {
    address,
    async close() {
      listener.close();
      await shared?.close();
    },
  };
}
