import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { SessionQuery, SessionRecord } from '../../src/store/session-db.js';
import { SqliteSessionStore } from '../../src/store/sqlite-store.js';
import type { Gatehouse } from './gatehouse.js';
import { CLI } from './paths.js';

// Reading a test Gatehouse's connection database as an administrator's tool would (its own connection, closed
// again), the CLI, and a scan of the database files for secrets.


export function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export const dbFile = (gh: Pick<Gatehouse, 'dir'>): string => join(gh.dir, 'data', 'sessions.db');

export async function rows(gh: Pick<Gatehouse, 'dir'>, q: SessionQuery = {}): Promise<SessionRecord[]> {
  const store = SqliteSessionStore.open(dbFile(gh), { mustExist: true });
  try {
    return await store.query(q);
  } finally {
    await store.close();
  }
}

/** Polls until `pred` holds for the row of session `sid` (undefined: no row). */
export async function rowWhen(
  gh: Pick<Gatehouse, 'dir'>, sid: string, pred: (r: SessionRecord | undefined) => boolean, what: string, timeoutMs = 20_000,
): Promise<SessionRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = (await rows(gh)).find((x) => x.session_id === sid);
    if (pred(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; row: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The row of session `sid` once it has ended. */
export async function endedRow(gh: Pick<Gatehouse, 'dir'>, sid: string): Promise<SessionRecord> {
  return (await rowWhen(gh, sid, (r) => r?.ended_at != null, `session ${sid} ended in the connection database`))!;
}

/** Rewrites config.yaml's `sessions` block and reloads; sessions that start afterwards follow it. */
export async function setSessions(gh: Gatehouse, sessions: Record<string, unknown>): Promise<void> {
  const cfg = yaml.load(readFileSync(gh.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(gh.configFile, yaml.dump({ ...cfg, sessions }));
  await gh.app.reload();
}

/** The database files in `dir` (the database, its WAL) hold none of `secrets`. */
export function assertNoSecrets(dir: string, secrets: readonly string[]): void {
  let scanned = 0;
  for (const f of readdirSync(dir).filter((n) => n.startsWith('sessions.db'))) {
    const bytes = readFileSync(join(dir, f)).toString('latin1');
    scanned += bytes.length;
    for (const s of secrets) assert.ok(!bytes.includes(s), `${f} contains ${s}`);
  }
  assert.ok(scanned > 0, 'the database files were scanned');
}
