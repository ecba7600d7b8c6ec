import { connect } from 'node:net';
import type { IdentityEnder } from '../session/identity-logout.js';
import type { EndRequest } from '../session/shared-limits.js';

// What travels over the control socket: one JSON line each way, with snake_case names as in the
// connection database.

export type ControlRequest =
  | { readonly command: 'sessions' }
  /** Ends the sessions named (one, or several: `terminate --user` and `--all` name those the admin confirmed). */
  | { readonly command: 'terminate'; readonly session_id?: string; readonly session_ids?: readonly string[] }
  /** Ends every session of that gateway user (the identity the AA plugin authenticated). */
  | { readonly command: 'terminate'; readonly gateway_user: string }
  | { readonly command: 'penalties' }
  /** Without `source`: every penalty. */
  | { readonly command: 'penalties_clear'; readonly source?: string };

/** A penalised address block (ssh/penalties.ts). */
export interface PenaltySummary {
  readonly source: string;
  readonly until: string;
  readonly seconds_left: number;
  /** Whether its new connections are refused now. */
  readonly active: boolean;
  readonly last_kind: string;
  readonly events: number;
}

export interface SessionSummary {
  readonly session_id: string;
  readonly phase: string;
  readonly client: string;
  readonly policy: string | null;
  readonly target: string | null;
  readonly server_user: string | null;
  readonly gateway_user: string | null;
  readonly started_at: string;
  readonly idle_seconds: number;
  readonly bytes_to_target: number;
  readonly bytes_to_client: number;
  /** The process serving it (with `workers`, one of the worker processes). */
  readonly worker: number;
  /** The Gatehouse host serving it, where several share one database (database.url). */
  readonly instance?: string;
}

/**
 * What the control socket acts on: this process's sessions, or (with workers) every worker's, or (with
 * database.url) every host's. The identity provider's logout (endByIdentity) reaches the same sessions.
 */
export interface SessionControl extends IdentityEnder {
  list(): Promise<SessionSummary[]>;
  /** Ends the session; undefined when no live session has that id. */
  terminate(sessionId: string): Promise<SessionSummary | undefined>;
  /**
   * Ends the session to make room under a per-user limit (on_limit: end_oldest), wherever it runs; its user
   * reads the limit's message. Undefined when no live session has that id.
   */
  endForLimit(end: EndRequest): Promise<SessionSummary | undefined>;
}

export type ControlReply =
  | { readonly ok: true; readonly sessions: SessionSummary[]; readonly penalties?: PenaltySummary[]; readonly cleared?: string[] }
  | { readonly ok: false; readonly error: string };

/** Sends one request to the control socket at `path` and returns the reply (rejects when nothing answers). */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = 10_000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(path, () => sock.write(`${JSON.stringify(req)}\n`));
    let text = '';
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer on ${path} within ${timeoutMs} ms`)));
    sock.on('data', (d: string) => { text += d; });
    sock.on('end', () => {
      try {
        resolve(JSON.parse(text) as ControlReply);
      } catch {
        reject(new Error(`garbled answer on ${path}`));
      }
    });
    sock.on('error', reject);
  });
}
