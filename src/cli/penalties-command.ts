import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/config.js';
import type { ControlRequest, PenaltySummary } from '../control/control-protocol.js';
import { ask, seconds, usage } from './session-commands.js';
import { columns, type Output } from './sessions-history.js';

// `gatehouse penalties [--clear ADDRESS|all] [--json]`: the sources the running Gatehouse refuses for
// misbehaving (OpenSSH's PerSourcePenalties), asked through its control socket. Penalties live in memory only,
// so unlike session history there is nothing to read when Gatehouse is stopped.

const OPTIONS = {
  config: { type: 'string', short: 'c', default: 'config.yaml' },
  json: { type: 'boolean' },
  clear: { type: 'string' },
} as const;

function penaltyTable(list: readonly PenaltySummary[]): string {
  return columns([
    ['SOURCE', 'REFUSED', 'LEFT', 'UNTIL', 'EVENTS', 'LAST'],
    ...list.map((p) => [p.source, p.active ? 'yes' : 'no', seconds(p.seconds_left), p.until.replace(/\.\d+Z$/, 'Z'), String(p.events), p.last_kind]),
  ]);
}

/** Lists the penalised sources, or clears the penalty of `--clear` ("all": every one). */
export async function penaltiesCommand(argv: string[], io: Output): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (positionals.length > 0) return usage(io, 'gatehouse penalties [--clear ADDRESS|all] [--json]');
  const socket = loadConfigFile(v.config).controlSocket;
  const req: ControlRequest = v.clear === undefined ? { command: 'penalties' }
    : { command: 'penalties_clear', ...(v.clear === 'all' ? {} : { source: v.clear }) };
  const reply = await ask(socket, req, io, '');
  if (!reply) return 1;
  if (!reply.ok) {
    io.err(`gatehouse: ${reply.error}\n`);
    return 1;
  }
  if (v.clear !== undefined) {
    const cleared = reply.cleared ?? [];
    io.out(cleared.length === 0 ? `no penalty for ${v.clear}\n` : `cleared ${cleared.join(', ')}\n`);
    return 0;
  }
  const list = reply.penalties ?? [];
  io.out(v.json ? `${JSON.stringify(list, null, 2)}\n` : `${list.length === 0 ? 'no penalties' : penaltyTable(list)}\n`);
  return 0;
}
