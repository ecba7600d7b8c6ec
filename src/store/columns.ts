// How a session record maps to table columns, the same for every SQL backend: the short lists are JSON text,
// times are milliseconds since the epoch. sqlite-store.ts and pg-store.ts both read and write through here, so
// that a new field is added in one place.

export const JSON_COLUMNS = new Set(['gateway_groups', 'verdicts', 'additional_metadata', 'recordings', 'identity']);
/** JSON columns whose absence is null, not an empty list. */
export const NULLABLE_JSON = new Set(['identity']);
export const TIME_COLUMNS = new Set(['connected_at', 'login_at', 'ended_at', 'updated_at', 'opened_at', 'closed_at']);
export const SESSION_COLUMNS = [
  'session_id', 'instance', 'connected_at', 'login_at', 'ended_at', 'updated_at', 'client_ip', 'client_port', 'policy',
  'server_user', 'target_name', 'target_address', 'target_port', 'gateway_user', 'gateway_groups', 'verdicts',
  'additional_metadata', 'recordings', 'end_reason', 'end_code', 'bytes_to_target', 'bytes_to_client', 'identity', 'ended_by',
] as const;
export const CHANNEL_COLUMNS = [
  'session_id', 'seq', 'type', 'request', 'command', 'subsystem', 'opened_at', 'closed_at', 'bytes_to_target',
  'bytes_to_client', 'exit_status', 'exit_signal',
] as const;

export type Row = Record<string, unknown>;

export function toColumn(key: string, v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (JSON_COLUMNS.has(key)) return JSON.stringify(v);
  if (TIME_COLUMNS.has(key)) return Date.parse(v as string);
  return v;
}

export function fromColumn(key: string, v: unknown): unknown {
  if (v === null) return JSON_COLUMNS.has(key) && !NULLABLE_JSON.has(key) ? [] : null;
  if (JSON_COLUMNS.has(key)) return JSON.parse(v as string);
  if (TIME_COLUMNS.has(key)) return new Date(v as number).toISOString();
  return v;
}

export function fromRow(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = fromColumn(k, v);
  return out;
}
