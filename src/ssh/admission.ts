import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AdmissionSettings } from '../config/abuse-limits.js';
import type { Penalties } from './penalties.js';
import { canonicalIp, networkBlock } from '../target/source-address.js';

// Admission at TCP accept, as sshd does it, before ssh2 sees a byte: a connection counts as a login in
// progress ("startup") from accept until it has logged in or gone, whether or not it ever sends an SSH
// identification line. Each new connection is checked, in this order, against:
// - the penalty of its address block (penalties.ts);
// - MaxStartups start:rate:full: at `start` logins in progress new ones are dropped with probability `rate` %,
//   rising linearly to 100 % at `full`;
// - per-source and per-network-block limits on logins in progress, so that one address (or one /24 or /64)
//   cannot take every slot.
// Every drop is logged with the rule that made it. An admitted connection gets a deadline from accept (sshd's
// LoginGraceTime): at the deadline it is ended, by the session when one exists, else here.

/** The admission settings of config.yaml's limits (rate in percent), and the login grace time. */
export type AdmissionLimits = Omit<AdmissionSettings, 'maxAuthTries' | 'authFailureDelayMs'> & { readonly graceMs: number };

export type DropRule = 'penalty' | 'max_startups' | 'max_startups_random' | 'per_source' | 'per_network';

/** One admitted connection's place among the logins in progress. */
export interface Ticket {
  readonly ip: string;
  readonly acceptedAt: number;
  /** Called at the deadline instead of the default (ending the socket), once a session owns the connection. */
  onDeadline(fn: () => void): void;
  /** The login finished: the connection no longer counts as a login in progress and has no deadline. */
  release(): void;
}

/** sshd's early-drop probability for `n` logins in progress (OpenSSH's should_drop_connection). */
export function dropProbability(n: number, l: Pick<AdmissionLimits, 'start' | 'rate' | 'full'>): number {
  if (n < l.start) return 0;
  if (n >= l.full) return 1;
  return (l.rate + ((100 - l.rate) * (n - l.start)) / (l.full - l.start)) / 100;
}

export class Admission {
  private pending = 0;
  private readonly bySource = new Map<string, number>();
  private readonly byNetwork = new Map<string, number>();

  constructor(
    private readonly limits: () => AdmissionLimits,
    private readonly penalties: Penalties,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  /** Logins in progress, counted from TCP accept. */
  get inProgress(): number {
    return this.pending;
  }

  /** Admits `sock` (returns its ticket) or drops it (destroys it, logs why, returns undefined). */
  admit(sock: Socket): Ticket | undefined {
    sock.on('error', () => undefined); // a reset before ssh2 takes the socket must not end the process
    const l = this.limits();
    const ip = canonicalIp(sock.remoteAddress ?? '');
    const network = networkBlock(ip, l.v4Prefix, l.v6Prefix);
    const rule = this.ruleFor(ip, network, l);
    if (rule) {
      this.log.info({ event: 'connection.dropped', rule: rule.rule, ip, port: sock.remotePort, network, inProgress: this.pending, ...rule.detail },
        `connection dropped: ${rule.why}`);
      sock.destroy();
      return undefined;
    }
    return this.ticket(sock, ip, network, l.graceMs);
  }

  private ruleFor(ip: string, network: string, l: AdmissionLimits): { rule: DropRule; why: string; detail?: Record<string, unknown> } | undefined {
    const p = this.penalties.check(ip);
    if (p) return { rule: 'penalty', why: `source ${p.source} is penalised`, detail: { source: p.source, penaltySeconds: Math.ceil((p.until - Date.now()) / 1000) } };
    if (this.pending >= l.full) return { rule: 'max_startups', why: `${this.pending} logins in progress (full at ${l.full})` };
    if ((this.bySource.get(ip) ?? 0) >= l.perSource) return { rule: 'per_source', why: `${l.perSource} logins in progress from ${ip}` };
    if ((this.byNetwork.get(network) ?? 0) >= l.perNetwork) return { rule: 'per_network', why: `${l.perNetwork} logins in progress from ${network}` };
    const p2 = dropProbability(this.pending, l);
    if (p2 > 0 && this.random() < p2) {
      return { rule: 'max_startups_random', why: `random early drop at ${this.pending} logins in progress`, detail: { probability: Math.round(p2 * 100) / 100 } };
    }
    return undefined;
  }

  private ticket(sock: Socket, ip: string, network: string, graceMs: number): Ticket {
    const acceptedAt = Date.now();
    const bump = (m: Map<string, number>, k: string, d: number): void => {
      const n = (m.get(k) ?? 0) + d;
      if (n > 0) m.set(k, n);
      else m.delete(k);
    };
    this.pending++;
    bump(this.bySource, ip, 1);
    bump(this.byNetwork, network, 1);
    let counted = true;
    let onDeadline: (() => void) | undefined;
    const timer = setTimeout(() => {
      if (onDeadline) return onDeadline();
      // Nothing above took the connection over: it never finished its SSH greeting and key exchange.
      this.log.info({ event: 'connection.timeout', ip, port: sock.remotePort, graceMs }, 'login grace time passed before the SSH handshake; connection closed');
      this.penalties.record(ip, 'grace_exceeded');
      sock.destroy();
    }, graceMs);
    const release = (): void => {
      clearTimeout(timer);
      if (!counted) return;
      counted = false;
      this.pending--;
      bump(this.bySource, ip, -1);
      bump(this.byNetwork, network, -1);
    };
    sock.once('close', release);
    return { ip, acceptedAt, onDeadline: (fn) => { onDeadline = fn; }, release };
  }
}
