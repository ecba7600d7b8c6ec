import { createReadStream, existsSync, renameSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { SessionRecord, SessionStore } from './session-db.js';

// The one-time import of sessions.jsonl, the connection log of Gatehouse before the database (one JSON line per
// ended session), so that current users keep their history. Only the known fields are read, so nothing else a
// line may hold reaches the database. The file is renamed to sessions.jsonl.imported afterwards; a marker in
// the database, set once every line is in, makes sure it is imported once even if the rename fails. Re-running an interrupted import is
// harmless: rows are written by id.

const MARKER = 'jsonl_import';
/** Lines written per batch: bounds memory and the time one transaction holds the loop. */
const BATCH = 500;
/** End reasons of sessions that had logged in (the old format has no login time). */
const LOGGED_IN_REASONS = new Set(['logout', 'idle_timeout', 'target_closed']);

export interface ImportResult {
  readonly imported: number;
  readonly skipped: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const identity = (v: unknown): SessionRecord['identity'] => {
  const o = v as Record<string, unknown> | null;
  const issuer = str(o?.issuer);
  const subject = str(o?.subject);
  return issuer && subject ? { issuer, subject, sid: str(o?.sid) } : null;
};
const time = (v: unknown): string | null => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? null : new Date(t).toISOString();
};

/** Maps one old line to a record; null for a line that is not one. */
export function fromJsonlLine(line: string, instance: string): SessionRecord | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  const id = str(o?.session_id);
  const connected = time(o?.started_at);
  const ended = time(o.ended_at);
  if (!id || !connected || !ended) return null;
  const toTarget = num(o.bytes_to_target) ?? 0;
  const toClient = num(o.bytes_to_client) ?? 0;
  const reason = str(o.end_reason) ?? 'unknown';
  // Data only flowed after a login, and these reasons only end a logged-in session.
  const loggedIn = toTarget + toClient > 0 || LOGGED_IN_REASONS.has(reason);
  const verdicts = Array.isArray(o.verdicts) ? o.verdicts.flatMap((v: Record<string, unknown>) => {
    const hook = str(v?.hook);
    const verdict = str(v?.verdict);
    return hook && verdict ? [{ hook, verdict, at: connected, ms: num(v.ms) ?? 0 }] : [];
  }) : [];
  return {
    session_id: id, instance, connected_at: connected, login_at: loggedIn ? connected : null, ended_at: ended, updated_at: ended,
    client_ip: str(o.client_ip) ?? '', client_port: num(o.client_port) ?? 0, policy: str(o.policy), server_user: str(o.server_username),
    target_name: str(o.target_server), target_address: str(o.target_address), target_port: num(o.target_port),
    gateway_user: str(o.gateway_user), gateway_groups: strings(o.gateway_groups), verdicts,
    additional_metadata: strings(o.additional_metadata), channels: [], recordings: strings(o.recordings),
    end_reason: reason, end_code: str(o.end_code), bytes_to_target: toTarget, bytes_to_client: toClient,
    identity: identity(o.identity), ended_by: str(o.ended_by),
  };
}

/** Imports `file` into `store` if it exists and was not imported before; null when there was nothing to do. */
export async function importJsonl(store: SessionStore, file: string, instance: string): Promise<ImportResult | null> {
  if (!existsSync(file)) return null;
  let imported = 0;
  let skipped = 0;
  // Imported before, but the rename failed: only the rename is left to do.
  if ((await store.meta(MARKER)) !== undefined) {
    renameSync(file, `${file}.imported`);
    return null;
  }
  let pending: Promise<void>[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const rec = fromJsonlLine(line, instance);
    if (!rec) {
      skipped++;
      continue;
    }
    pending.push(store.put(rec));
    imported++;
    if (pending.length >= BATCH) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await store.setMeta(MARKER, JSON.stringify({ at: new Date().toISOString(), imported, skipped }));
  renameSync(file, `${file}.imported`);
  return { imported, skipped };
}
