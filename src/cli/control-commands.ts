import { controlRequest, type ControlReply, type ControlRequest, type PenaltySummary, type SessionSummary } from '../control/control-protocol.js';

// `gatehouse sessions`, `gatehouse terminate ID` (or `--gateway-user NAME`) and `gatehouse penalties
// [--clear ADDR|all]`: clients of a running Gatehouse's control socket.

interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

async function ask(socket: string, req: ControlRequest, io: Output): Promise<ControlReply | undefined> {
  try {
    return await controlRequest(socket, req);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no Gatehouse is running with this configuration'
      : code === 'EACCES' ? 'not allowed: run this as the account Gatehouse runs as (or root)'
      : (err as Error).message;
    io.err(`gatehouse: ${socket}: ${why}\n`);
    return undefined;
  }
}

const seconds = (s: number): string => (s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`);

function table(sessions: readonly SessionSummary[]): string {
  const rows = [
    ['SESSION', 'PHASE', 'CLIENT', 'POLICY', 'SERVER USER@TARGET', 'GATEWAY USER', 'STARTED', 'IDLE', 'BYTES UP/DOWN'],
    ...sessions.map((s) => [
      s.session_id, s.phase, s.client, s.policy ?? '-', s.target ? `${s.server_user ?? '?'}@${s.target}` : '-', s.gateway_user ?? '-',
      s.started_at.replace(/\.\d+Z$/, 'Z'), seconds(s.idle_seconds), `${s.bytes_to_target}/${s.bytes_to_client}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export async function sessionsCommand(socket: string, json: boolean, io: Output): Promise<number> {
  const reply = await ask(socket, { command: 'sessions' }, io);
  if (!reply) return 1;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return 1;
  }
  io.out(json ? `${JSON.stringify(reply.sessions, null, 2)}\n` : `${reply.sessions.length === 0 ? 'no sessions' : table(reply.sessions)}\n`);
  return 0;
}

/** `target` is a session id, or {gatewayUser} to end every session of that gateway user. */
export async function terminateCommand(socket: string, target: string | { gatewayUser: string }, io: Output): Promise<number> {
  const req: ControlRequest = typeof target === 'string' ? { command: 'terminate', session_id: target } : { command: 'terminate', gateway_user: target.gatewayUser };
  const reply = await ask(socket, req, io);
  if (!reply) return 1;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return 1;
  }
  for (const s of reply.sessions) io.out(`terminated ${s.session_id} (${s.server_user ?? '?'}@${s.target ?? '-'} from ${s.client})\n`);
  return 0;
}

function penaltyTable(list: readonly PenaltySummary[]): string {
  const rows = [
    ['SOURCE', 'REFUSED', 'LEFT', 'UNTIL', 'EVENTS', 'LAST'],
    ...list.map((p) => [p.source, p.active ? 'yes' : 'no', seconds(p.seconds_left), p.until.replace(/\.\d+Z$/, 'Z'), String(p.events), p.last_kind]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Lists the penalised sources, or clears the penalty of `clear` ("all": every one). */
export async function penaltiesCommand(socket: string, opts: { json: boolean; clear?: string | undefined }, io: Output): Promise<number> {
  const req: ControlRequest = opts.clear === undefined ? { command: 'penalties' }
    : { command: 'penalties_clear', ...(opts.clear === 'all' ? {} : { source: opts.clear }) };
  const reply = await ask(socket, req, io);
  if (!reply) return 1;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return 1;
  }
  if (opts.clear !== undefined) {
    const cleared = reply.cleared ?? [];
    io.out(cleared.length === 0 ? `no penalty for ${opts.clear}\n` : `cleared ${cleared.join(', ')}\n`);
    return 0;
  }
  const list = reply.penalties ?? [];
  io.out(opts.json ? `${JSON.stringify(list, null, 2)}\n` : `${list.length === 0 ? 'no penalties' : penaltyTable(list)}\n`);
  return 0;
}
