import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SessionsConfig } from '../config/sessions-config.js';
import { startExpiry } from './expiry.js';
import { importJsonl } from './jsonl-import.js';
import type { SessionStore } from './session-db.js';
import { SCHEMA_VERSION } from './sqlite-schema.js';
import { SqliteSessionStore } from './sqlite-store.js';
import { PgSessionStore, redactUrl } from './pg-store.js';

// Opening the connection database at start: migrations (sqlite-store.ts), then the rows a crashed process left
// live are closed, an old sessions.jsonl is imported once, and background expiry starts. One Gatehouse per
// state_dir: the control socket there refuses a second one before this runs.

const DB_FILE = 'sessions.db';
const JSONL_FILE = 'sessions.jsonl';

export function sessionDbPath(stateDir: string): string {
  return join(stateDir, DB_FILE);
}

export interface ConnectionDb {
  readonly store: SessionStore;
  /** Which Gatehouse wrote a row (crash recovery closes only its own). */
  readonly instance: string;
  /** Stops expiry and closes the database once every queued write is done. */
  close(): Promise<void>;
}

export interface ConnectionDbOptions {
  /**
   * A worker of `workers: N` shares the database with its siblings: the primary recovers crashed rows, imports
   * sessions.jsonl and runs expiry, once; a worker recovering would close its siblings' live rows.
   */
  readonly worker?: boolean;
  /** Several hosts' shared PostgreSQL (config database) instead of SQLite in state_dir. */
  readonly database?: { readonly url: string; readonly instance: string };
}

export async function openConnectionDb(stateDir: string, settings: () => SessionsConfig, log: Logger, opts: ConnectionDbOptions = {}): Promise<ConnectionDb> {
  const file = opts.database ? redactUrl(opts.database.url) : sessionDbPath(stateDir);
  const store: SessionStore = opts.database ? await PgSessionStore.open(opts.database.url) : SqliteSessionStore.open(file);
  const instance = opts.database?.instance ?? hostname();
  if (opts.worker) return { store, instance, close: () => store.close() };
  try {
    log.info({ event: 'store.opened', file, schema: SCHEMA_VERSION }, 'connection database opened');
    const crashed = await store.recoverCrashed(instance);
    if (crashed > 0) {
      log.warn({ event: 'store.crash_recovery', rows: crashed }, 'sessions left live by a Gatehouse that did not stop cleanly were closed as crashed');
    }
    const imported = await importJsonl(store, join(stateDir, JSONL_FILE), instance);
    if (imported) {
      log.info({ event: 'store.jsonl_imported', ...imported, file: join(stateDir, `${JSONL_FILE}.imported`) }, 'sessions.jsonl imported into the connection database');
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  const expiry = startExpiry(store, () => {
    const s = settings();
    return { anonymousExpirySeconds: s.anonymousExpirySeconds, retentionDays: s.retentionDays };
  }, log);
  return {
    store,
    instance,
    async close() {
      expiry.stop();
      await store.close();
    },
  };
}
