import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/config.js';
import { controlRequest, type ControlReply, type ControlRequest, type SessionSummary } from '../control/control-protocol.js';
import { sessionDbPath } from '../store/connection-db.js';
import { columns, historyCommand, showCommand, toQuery, type FilterArgs, type Output } from './sessions-history.js';

// `gatehouse sessions` and `gatehouse terminate`. Live lists and terminate ask the running Gatehouse through
// its control socket; `sessions --all` and `sessions show ID` read the connection database directly, so they
// work with Gatehouse stopped. terminate asks for confirmation on a terminal unless --yes; without a terminal,
// ending several sessions (--user, --all) needs --yes, so that a script's typo does not end everyone's.

/** How long the confirmation question waits for an answer before taking it as no. */
const CONFIRM_MS = 5 * 60_000;

export interface Terminal {
  readonly interactive: boolean;
  /** Asks one question; resolves with the answer ('' when none came in time). */
  question(text: string): Promise<string>;
}

export function processTerminal(): Terminal {
  return {
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    question: (text) => new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const timer = setTimeout(() => { rl.close(); resolve(''); }, CONFIRM_MS);
      rl.question(text, (a) => { clearTimeout(timer); rl.close(); resolve(a); });
      rl.once('close', () => { clearTimeout(timer); resolve(''); });
    }),
  };
}

const OPTIONS = {
  config: { type: 'string', short: 'c', default: 'config.yaml' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  user: { type: 'string' },
  'gateway-user': { type: 'string' },
  target: { type: 'string' },
  policy: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  reason: { type: 'string' },
} as const;

/** One request to the control socket; undefined (after saying why) when no Gatehouse answers. */
export async function ask(socket: string, req: ControlRequest, io: Output, stoppedHint = ' (history: gatehouse sessions --all)'): Promise<ControlReply | undefined> {
  try {
    return await controlRequest(socket, req);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? `no Gatehouse is running with this configuration${stoppedHint}`
      : code === 'EACCES' ? 'not allowed: run this as the account Gatehouse runs as (or root)'
      : (err as Error).message;
    io.err(`gatehouse: ${socket}: ${why}\n`);
    return undefined;
  }
}

export const seconds = (s: number): string => (s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`);

export function liveTable(sessions: readonly SessionSummary[]): string {
  return columns([
    ['SESSION', 'PHASE', 'CLIENT', 'POLICY', 'SERVER USER@TARGET', 'GATEWAY USER', 'STARTED', 'IDLE', 'BYTES UP/DOWN'],
    ...sessions.map((s) => [
      s.session_id, s.phase, s.client, s.policy ?? '-', s.target ? `${s.server_user ?? '?'}@${s.target}` : '-', s.gateway_user ?? '-',
      s.started_at.replace(/\.\d+Z$/, 'Z'), seconds(s.idle_seconds), `${s.bytes_to_target}/${s.bytes_to_client}`,
    ]),
  ]);
}

/** The user a session belongs to for --user: its gateway user, else its server user. */
const ownedBy = (s: SessionSummary, user: string): boolean => (s.gateway_user ?? s.server_user) === user;

async function live(socket: string, io: Output): Promise<SessionSummary[] | undefined> {
  const reply = await ask(socket, { command: 'sessions' }, io);
  if (!reply) return undefined;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return undefined;
  }
  return reply.sessions;
}

export async function sessionsCommand(argv: string[], io: Output): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const config = loadConfigFile(v.config);
  // History reads the shared PostgreSQL where several hosts use one, else state_dir's SQLite file.
  const db = config.database?.url ?? sessionDbPath(config.stateDir);
  const filters: FilterArgs = { user: v.user, target: v.target, policy: v.policy, since: v.since, until: v.until, reason: v.reason };
  if (positionals[0] === 'show') {
    if (positionals.length !== 2) return usage(io, 'gatehouse sessions show SESSION_ID [--json]');
    return showCommand(db, positionals[1]!, Boolean(v.json), io);
  }
  if (positionals.length > 0) return usage(io, 'gatehouse sessions [--all] [filters] [--json] | gatehouse sessions show SESSION_ID');
  if (v.all) return historyCommand(db, filters, Boolean(v.json), io);
  if (v.reason !== undefined) return usage(io, '--reason applies to history: add --all');
  const q = toQuery(filters);
  if (typeof q === 'string') return usage(io, q);
  const sessions = await live(config.controlSocket, io);
  if (!sessions) return 1;
  const shown = sessions.filter((s) => {
    const started = Date.parse(s.started_at);
    return (q.user === undefined || s.gateway_user === q.user || s.server_user === q.user)
      && (q.target === undefined || s.target?.replace(/:\d+$/, '') === q.target)
      && (q.policy === undefined || s.policy === q.policy)
      && (q.since === undefined || started >= q.since)
      && (q.until === undefined || started < q.until);
  });
  io.out(v.json ? `${JSON.stringify(shown, null, 2)}\n` : `${shown.length === 0 ? 'no sessions' : liveTable(shown)}\n`);
  return 0;
}

export async function terminateCommand(argv: string[], io: Output, term: Terminal): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const gatewayUser = v['gateway-user'];
  const modes = [positionals.length === 1, v.user !== undefined, gatewayUser !== undefined, Boolean(v.all)].filter(Boolean).length;
  if (modes !== 1 || positionals.length > 1) return usage(io, 'gatehouse terminate SESSION_ID | --user NAME | --gateway-user NAME | --all [--yes]');
  const socket = loadConfigFile(v.config).controlSocket;
  const several = !positionals[0];
  const flag = v.all ? '--all' : gatewayUser !== undefined ? '--gateway-user' : '--user';
  if (several && !v.yes && !term.interactive) {
    return usage(io, `${flag} ends several sessions and there is no terminal to confirm on: add --yes`);
  }
  let req: ControlRequest;
  if (!several && (v.yes || !term.interactive)) {
    req = { command: 'terminate', session_ids: [positionals[0]!] };
  } else if (gatewayUser !== undefined && v.yes) {
    // Matched by Gatehouse itself, so that sessions still logging in as that identity end too.
    req = { command: 'terminate', gateway_user: gatewayUser };
  } else {
    const sessions = await live(socket, io);
    if (!sessions) return 1;
    const chosen = sessions.filter((s) => (v.all ? true : gatewayUser !== undefined ? s.gateway_user === gatewayUser
      : several ? ownedBy(s, v.user!) : s.session_id === positionals[0]));
    if (chosen.length === 0) {
      io.err(`gatehouse: ${v.all ? 'no live sessions' : several ? `no live session of ${gatewayUser ?? v.user}` : `no session ${positionals[0]}`}\n`);
      return 1;
    }
    if (!v.yes) {
      io.out(`${liveTable(chosen)}\n`);
      const answer = await term.question(chosen.length === 1 ? 'End this session? [y/N] ' : `End these ${chosen.length} sessions? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.out('nothing terminated\n');
        return 1;
      }
    }
    req = { command: 'terminate', session_ids: chosen.map((s) => s.session_id) };
  }
  const reply = await ask(socket, req, io);
  if (!reply) return 1;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return 1;
  }
  for (const s of reply.sessions) io.out(`terminated ${s.session_id} (${s.server_user ?? '?'}@${s.target ?? '-'} from ${s.client})\n`);
  return 0;
}

export function usage(io: Output, text: string): number {
  io.err(`gatehouse: ${text}\n`);
  return 2;
}
