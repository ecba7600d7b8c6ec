import type { SessionQuery, SessionRecord, SessionStore } from '../store/session-db.js';
import { SqliteSessionStore } from '../store/sqlite-store.js';
import { PgSessionStore, redactUrl } from '../store/pg-store.js';

// `gatehouse sessions --all` and `gatehouse sessions show ID`: the connection database read directly, so that
// they work whether Gatehouse runs or not (SQLite in WAL mode lets a reader in beside the writer).

export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export interface FilterArgs {
  readonly user?: string | undefined;
  readonly target?: string | undefined;
  readonly policy?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly reason?: string | undefined;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "2026-11-30", "2026-11-30T10:00", an ISO time, or a span back from now such as 30m, 12h, 7d. */
export function parseWhen(text: string, now = Date.now()): number | string {
  const span = /^(\d+)([smhd])$/.exec(text);
  if (span) return now - Number(span[1]) * UNITS[span[2]!]!;
  const t = Date.parse(text);
  return Number.isNaN(t) ? `"${text}" is neither a time (2026-11-30, 2026-11-30T10:00Z) nor a span back from now (30m, 12h, 7d)` : t;
}

/** The filters as a query, or what is wrong with them. */
export function toQuery(f: FilterArgs, now = Date.now()): SessionQuery | string {
  const q: { -readonly [K in keyof SessionQuery]: SessionQuery[K] } = {};
  for (const k of ['user', 'target', 'policy', 'reason'] as const) if (f[k] !== undefined) q[k] = f[k];
  for (const k of ['since', 'until'] as const) {
    if (f[k] === undefined) continue;
    const t = parseWhen(f[k]!, now);
    if (typeof t === 'string') return `--${k}: ${t}`;
    q[k] = t;
  }
  return q;
}

const short = (iso: string | null): string => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '-');

function duration(r: SessionRecord, now: number): string {
  const s = Math.round(((r.ended_at ? Date.parse(r.ended_at) : now) - Date.parse(r.connected_at)) / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function historyTable(records: readonly SessionRecord[], now = Date.now()): string {
  return columns([
    ['SESSION', 'CONNECTED', 'DURATION', 'CLIENT', 'POLICY', 'SERVER USER@TARGET', 'GATEWAY USER', 'END', 'BYTES UP/DOWN'],
    ...records.map((r) => [
      r.session_id, short(r.connected_at), duration(r, now), `${r.client_ip}:${r.client_port}`, r.policy ?? '-',
      r.target_name ? `${r.server_user ?? '?'}@${r.target_name}:${r.target_port ?? ''}` : (r.server_user ?? '-'), r.gateway_user ?? '-',
      r.end_reason ? `${r.end_reason}${r.end_code ? ` (${r.end_code})` : ''}` : 'live', `${r.bytes_to_target}/${r.bytes_to_client}`,
    ]),
  ]);
}

/** The whole record, for a person. */
export function describe(r: SessionRecord): string {
  const lines = [
    `session      ${r.session_id}`,
    `host         ${r.instance || '-'}`,
    `client       ${r.client_ip}:${r.client_port}`,
    `policy       ${r.policy ?? '-'}`,
    `server user  ${r.server_user ?? '-'}`,
    `target       ${r.target_name ? `${r.target_name} (${r.target_address ?? '?'}:${r.target_port ?? '?'})` : '-'}`,
    `gateway user ${r.gateway_user ?? '-'}${r.gateway_groups.length ? ` (groups: ${r.gateway_groups.join(', ')})` : ''}`,
    `connected    ${short(r.connected_at)}`,
    `logged in    ${r.login_at ? short(r.login_at) : 'never'}`,
    ...(r.identity ? [`identity     ${r.identity.subject} at ${r.identity.issuer}${r.identity.sid ? ` (session ${r.identity.sid})` : ''}`] : []),
    `ended        ${r.ended_at ? `${short(r.ended_at)}: ${r.end_reason ?? '?'}${r.end_code ? ` (${r.end_code})` : ''}` : 'live'}`,
    ...(r.ended_by ? [`ended by     ${r.ended_by}`] : []),
    `bytes        ${r.bytes_to_target} to the target, ${r.bytes_to_client} to the client`,
    'verdicts',
    ...(r.verdicts.length ? r.verdicts.map((v) => `  ${short(v.at)}  ${v.hook} ${v.verdict} (${v.ms} ms)`) : ['  -']),
    'additional metadata',
    ...(r.additional_metadata.length ? r.additional_metadata.map((m) => `  ${m}`) : ['  -']),
    'channels',
    ...(r.channels.length ? r.channels.map((c) => {
      const what = c.command !== null ? `${c.request ?? 'exec'} ${JSON.stringify(c.command)}` : c.subsystem !== null ? `subsystem ${c.subsystem}` : (c.request ?? '');
      const exit = c.exit_status !== null ? `, exit ${c.exit_status}` : c.exit_signal !== null ? `, signal ${c.exit_signal}` : '';
      return `  ${c.seq}. ${c.type}${what ? ` ${what}` : ''}: ${short(c.opened_at)} to ${short(c.closed_at)}${exit}, ${c.bytes_to_target}/${c.bytes_to_client} bytes`;
    }) : ['  -']),
    'recordings',
    ...(r.recordings.length ? r.recordings.map((p) => `  ${p}`) : ['  -']),
  ];
  return lines.join('\n');
}

/** `file`: the SQLite file in state_dir, or the shared PostgreSQL's URL (config database.url). */
async function openDb(file: string, io: Output): Promise<SessionStore | undefined> {
  try {
    return /^postgres(ql)?:\/\//.test(file) ? await PgSessionStore.open(file) : SqliteSessionStore.open(file, { mustExist: true });
  } catch (err) {
    io.err(`gatehouse: ${(err as Error).message}\n`);
    return undefined;
  }
}

export async function historyCommand(file: string, filters: FilterArgs, json: boolean, io: Output): Promise<number> {
  const q = toQuery(filters);
  if (typeof q === 'string') {
    io.err(`gatehouse: ${q}\n`);
    return 2;
  }
  const store = await openDb(file, io);
  if (!store) return 1;
  try {
    const rows = await store.query(q);
    io.out(json ? `${JSON.stringify(rows, null, 2)}\n` : `${rows.length === 0 ? 'no sessions' : historyTable(rows)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

export async function showCommand(file: string, id: string, json: boolean, io: Output): Promise<number> {
  const store = await openDb(file, io);
  if (!store) return 1;
  try {
    const r = await store.get(id);
    if (!r) {
      io.err(`gatehouse: no session ${id} in ${redactUrl(file)}\n`);
      return 1;
    }
    io.out(json ? `${JSON.stringify(r, null, 2)}\n` : `${describe(r)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
