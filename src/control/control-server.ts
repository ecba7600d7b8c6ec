import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { BastionError } from '../core/errors.js';
import { endSessionsByIdentity } from '../session/identity-logout.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Session } from '../session/session.js';
import type { ControlReply, ControlRequest, PenaltySummary, SessionControl, SessionSummary } from './control-protocol.js';

/** A penalised source as the penalties (ssh/penalties.ts, beside this layer) report it. */
export interface PenaltyEntry {
  readonly source: string;
  readonly until: number;
  readonly active: boolean;
  readonly lastKind: string;
  readonly events: number;
}

/** What the control socket needs of the penalties; app.ts hands them over. */
export interface PenaltyControl {
  list(): PenaltyEntry[];
  clear(addr?: string): string[];
}

// The administrators' way in to a running Gatehouse: a Unix socket (mode 0600, so only the account Gatehouse
// runs as, and root, can use it) answering one JSON request per connection: list the sessions, or end one;
// list the penalised sources, or clear their penalties. `gatehouse sessions`, `gatehouse terminate` and
// `gatehouse penalties` are its clients.
// Many clients are served at once, each within a deadline counted from accept (not from its last byte, so a
// trickling client cannot stretch it). Connections that have not sent a request yet are capped; at the cap
// the oldest of them is dropped to make room, so idle connections can never lock the admin CLI out.

const MAX_REQUEST = 4096;
const REQUEST_DEADLINE_MS = 5_000;
const MAX_PENDING = 64;
/** sun_path is 108 bytes on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export class ControlServer {
  private server: Server | undefined;
  /** Connections still waiting for their request, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Socket>();

  constructor(
    private readonly path: string,
    private readonly sessions: SessionControl,
    private readonly log: Logger,
    private readonly limits: { deadlineMs: number; maxPending: number } = { deadlineMs: REQUEST_DEADLINE_MS, maxPending: MAX_PENDING },
    private readonly penalties?: PenaltyControl,
  ) {}

  async listen(): Promise<void> {
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH) {
      throw this.refuse(`is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket takes: set control_socket to a shorter one`);
    }
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // In a folder others may write to, someone else could put their own socket in its place.
    const d = statSync(dir);
    if ((d.mode & 0o022) !== 0 || (d.uid !== process.getuid?.() && d.uid !== 0)) {
      throw this.refuse(`is in ${dir}, which other accounts may write to: use a folder only Gatehouse's account writes to, such as /run/gatehouse`);
    }
    await this.clearStale();
    const server = createServer((sock) => this.serve(sock));
    // The socket file must never exist with looser permissions, not even between bind and chmod.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    server.on('error', (err: Error) => this.log.error({ event: 'control.error', err: err.message }, 'control socket error'));
    this.server = server;
    this.log.info({ event: 'control.listening', path: this.path }, 'control socket listening');
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
  }

  private refuse(why: string): BastionError {
    return new BastionError('CONFIG_INVALID', `control_socket ${this.path} ${why}`);
  }

  /** A socket left by a Gatehouse that did not stop cleanly is removed; one that answers is in use. */
  private async clearStale(): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.path).isSocket();
    } catch {
      return; // nothing there
    }
    if (!isSocket) throw this.refuse('exists and is not a socket: Gatehouse will not replace it');
    const probe = await new Promise<string>((resolve) => {
      const s = connect(this.path, () => { s.destroy(); resolve('answers'); });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    if (probe === 'answers') {
      throw new BastionError('CONTROL_SOCKET_IN_USE', `${this.path} belongs to a running Gatehouse: give this one its own state_dir or control_socket`);
    }
    if (probe !== 'ECONNREFUSED') throw this.refuse(`cannot be checked (${probe}): remove it if no Gatehouse uses it`);
    unlinkSync(this.path);
  }

  private serve(sock: Socket): void {
    if (this.pending.size >= this.limits.maxPending) {
      const oldest = this.pending.values().next().value as Socket;
      this.pending.delete(oldest);
      oldest.destroy();
      this.log.warn({ event: 'control.evicted', pending: this.limits.maxPending }, 'control socket: too many idle connections, dropped the oldest');
    }
    this.pending.add(sock);
    let text = '';
    const deadline = setTimeout(() => sock.destroy(), this.limits.deadlineMs);
    sock.once('close', () => {
      clearTimeout(deadline);
      this.pending.delete(sock);
    });
    const reply = (r: ControlReply): void => {
      this.pending.delete(sock);
      sock.removeAllListeners('data');
      sock.end(`${JSON.stringify(r)}\n`);
    };
    sock.setEncoding('utf8');
    sock.on('error', () => undefined);
    sock.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl < 0) {
        if (text.length > MAX_REQUEST) reply({ ok: false, error: 'request too long' });
        return;
      }
      let req: unknown;
      try {
        req = JSON.parse(text.slice(0, nl));
      } catch {
        return reply({ ok: false, error: 'not JSON' });
      }
      sock.removeAllListeners('data');
      this.handle(req).then(reply, (err: unknown) => {
        this.log.error({ event: 'control.error', err: (err as Error).message }, 'control request failed');
        reply({ ok: false, error: 'internal error' });
      });
    });
  }

  private async handle(req: unknown): Promise<ControlReply> {
    if (typeof req !== 'object' || req === null) return { ok: false, error: 'a request is a JSON object' };
    const r = req as Partial<ControlRequest> & { session_id?: unknown; session_ids?: unknown; gateway_user?: unknown };
    if (r.command === 'sessions') return { ok: true, sessions: await this.sessions.list() };
    if (r.command === 'terminate' && r.gateway_user !== undefined) return this.terminateGatewayUser(r.gateway_user);
    if (r.command === 'terminate') {
      // One id, or the list `terminate --user` / `--all` confirmed; ids that have ended since are skipped.
      const ids = Array.isArray(r.session_ids) ? r.session_ids.map(String) : [String(r.session_id)];
      const ended = await Promise.all(ids.map((id) => this.sessions.terminate(id)));
      const chosen = ended.filter((s): s is SessionSummary => s !== undefined);
      if (chosen.length === 0) return { ok: false, error: `no session ${ids.join(', ')}` };
      return { ok: true, sessions: chosen };
    }
    if (r.command === 'penalties' && this.penalties) return { ok: true, sessions: [], penalties: this.penalties.list().map((p) => penaltySummary(p, Date.now())) };
    if (r.command === 'penalties_clear' && this.penalties) {
      const source = (r as { source?: unknown }).source;
      if (source !== undefined && (typeof source !== 'string' || source.length > 64)) return { ok: false, error: 'source must be an address' };
      return { ok: true, sessions: [], cleared: this.penalties.clear(source) };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(r.command)}` };
  }

  /**
   * Ends every live session of a gateway user, e.g. when that person's access is revoked; through
   * SessionControl, so with a shared database it reaches the sessions of every host.
   */
  private async terminateGatewayUser(user: unknown): Promise<ControlReply> {
    if (typeof user !== 'string' || user === '') return { ok: false, error: 'gateway_user must be a non-empty string' };
    const live = (await this.sessions.list()).filter((s) => s.gateway_user === user);
    const ended = await Promise.all(live.map((s) => this.sessions.terminate(s.session_id)));
    const chosen = ended.filter((s): s is SessionSummary => s !== undefined);
    if (chosen.length === 0) return { ok: false, error: `no session of gateway user ${user}` };
    this.log.warn({ event: 'control.terminate', gatewayUser: user, sessions: chosen.map((s) => s.session_id) },
      `${chosen.length} session(s) of gateway user ${user} terminated by an administrator`);
    return { ok: true, sessions: chosen };
  }
}

/** The sessions of this process, for the control socket or (in a worker) for the primary's. */
export function localSessionControl(registry: SessionRegistry, log: Logger): SessionControl {
  return {
    list: async () => {
      const now = Date.now();
      return registry.list().map((s) => summary(s, now));
    },
    terminate: async (sessionId) => {
      const s = registry.list().find((x) => x.id === sessionId);
      if (!s || s.closed) return undefined;
      log.warn({ event: 'control.terminate', sid: s.id }, 'session terminated by an administrator');
      void s.close('terminated', new BastionError('TERMINATED', 'terminated through the control socket',
        { userMessage: 'Session terminated by an administrator.' }));
      return summary(s, Date.now());
    },
    endByIdentity: async (logout) => endSessionsByIdentity(registry, logout),
    endForLimit: async (end) => {
      const s = registry.endForLimit(end);
      return s ? summary(s, Date.now()) : undefined;
    },
  };
}

/** What an administrator sees of a session: no answers, no raw user name (it may carry pre-answers). */
export function summary(s: Session, now: number): SessionSummary {
  return {
    session_id: s.id,
    phase: s.phase,
    client: `${s.client.ip}:${s.client.port}`,
    policy: s.policy?.name ?? null,
    target: s.target ? `${s.target.name}:${s.target.port}` : null,
    server_user: s.serverUser ?? null,
    gateway_user: s.gateway?.user ?? null,
    started_at: new Date(s.startedAt).toISOString(),
    idle_seconds: Math.floor(s.idleMs(now) / 1000),
    bytes_to_target: s.bytes.toTarget,
    bytes_to_client: s.bytes.toClient,
    worker: process.pid,
  };
}

function penaltySummary(p: PenaltyEntry, now: number): PenaltySummary {
  return {
    source: p.source, until: new Date(p.until).toISOString(), seconds_left: Math.max(0, Math.ceil((p.until - now) / 1000)),
    active: p.active, last_kind: p.lastKind, events: p.events,
  };
}
