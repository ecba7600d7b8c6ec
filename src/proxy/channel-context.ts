import type { Logger } from 'pino';
import type { Connection } from 'ssh2';
import type { ChannelRecord } from '../store/session-db.js';

// What a channel bridge may see of its session: the client connection, the policy's channel rules, where
// bytes are counted, and how to report channels and recordings. Bridges never see the Session itself, so that
// routing and policy stay in session/ and a bridge cannot reach past what it carries.

export interface ForwardingRule {
  readonly local: boolean;
  readonly remote: boolean;
}

/** The parts of a connection policy that govern channels. */
export interface ChannelRules {
  readonly tcpForwarding: ForwardingRule;
  readonly streamLocalForwarding: ForwardingRule;
  readonly agentForwarding: boolean;
  readonly x11Forwarding: boolean;
  readonly recordSessions: boolean;
}

export interface ByteTotals {
  toTarget: number;
  toClient: number;
}

export interface ChannelContext {
  readonly sessionId: string;
  /** The session's current child logger. */
  readonly log: Logger;
  /** Once true, nothing new is opened. */
  readonly closed: boolean;
  /** The client's ssh2 connection. */
  readonly conn: Connection;
  /** The session's byte totals, which every relay adds to. */
  readonly bytes: ByteTotals;
  readonly rules: ChannelRules;
  readonly recordingsDir: string;
  /** Registers a channel relay; the session waits for open relays before it closes. */
  trackChannel(done: Promise<unknown>): void;
  /** A terminal channel of this session is recorded to `path`. */
  recorded(path: string): void;
  /** The session's next channel number, for the log. */
  nextChannelId(): number;
  /**
   * A channel of `type` was opened: it gets an entry in the connection database, updated through the function
   * returned (request, command or subsystem, bytes, exit status, closed_at).
   */
  openedChannel(type: string): (fields: Partial<Omit<ChannelRecord, 'seq' | 'type' | 'opened_at'>>) => void;
}

/** What agent forwarding needs, before the session is active. */
export type AgentContext = Pick<ChannelContext, 'log' | 'closed' | 'conn' | 'trackChannel'>;
