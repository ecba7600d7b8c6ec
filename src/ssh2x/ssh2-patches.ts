import type { Connection } from 'ssh2';
import { connectionInternals, type MessageHandler } from './internals.js';

// Runtime patches of ssh2 (pinned ~1.17), per server connection, through the table of message handlers ssh2's
// server hands its protocol object (`_protocol._handlers`, private; internals.ts checks at start-up that ssh2
// still dispatches through it, a coded SSH2_INTERNALS_CHANGED error otherwise). Each wraps ssh2's own handler
// and changes one thing:
// 1. A repeated "ssh-userauth" service request is accepted, as OpenSSH's sshd does (RFC 4253 §10 does not
//    limit it to one). ssh2 disconnects instead, which breaks paramiko: it asks for the service again before
//    every authentication attempt (a key, then the password; or a second password).
// 2. How the client left, for the session record (logout or client_gone). OpenSSH's client says goodbye
//    (SSH_MSG_DISCONNECT) on every normal exit; PuTTY (plink, pscp, psftp) does not: once its last channel is
//    closed it just closes the TCP connection, which sshd also takes as a normal end ("Connection closed").
//    So a client left normally when it said goodbye, or when it closed the connection cleanly (no socket
//    error) after opening channels and with none of them still open. One that goes with a channel open
//    (killed, or its network gone) vanished.

type Handler = (proto: { serviceAccept(name: string): void }, ...args: unknown[]) => void;

export interface PeerEnd {
  /** Whether the client sent SSH_MSG_DISCONNECT. */
  readonly saidGoodbye: () => boolean;
  /** Whether the client left normally; ask it when the connection has closed (before ssh2 drops its channels). */
  readonly leftNormally: () => boolean;
}

/**
 * Applies both patches to one server connection; call it from the server's 'connection' event (before the key
 * exchange, so before any service request).
 */
export function patchConnection(conn: Connection): PeerEnd {
  const c = connectionInternals(conn);
  const table = c._protocol?._handlers;
  let goodbye = false;
  let opened = false;
  let broken = false;
  // ssh2 tags errors of the TCP connection itself (a reset, a timeout) with level 'socket'.
  conn.on('error', (err: Error & { level?: string }) => { if (err.level === 'socket') broken = true; });
  const end: PeerEnd = {
    saidGoodbye: () => goodbye,
    // ssh2 emits 'close' before it drops its open channels, so the count still holds what the client left open.
    leftNormally: () => goodbye || (opened && !broken && c._chanMgr?._count === 0),
  };
  const service = table?.['SERVICE_REQUEST'] as Handler | undefined;
  const disconnect = table?.['DISCONNECT'] as Handler | undefined;
  const channelOpen = table?.['CHANNEL_OPEN'] as Handler | undefined;
  if (!table || !service || !disconnect || !channelOpen) return end;
  let accepted = false;
  const onService: Handler = (proto, name) => {
    if (accepted && name === 'ssh-userauth' && !c.authenticated) return proto.serviceAccept(name);
    service(proto, name);
    if (name === 'ssh-userauth') accepted = true; // ssh2 accepted it, or ended the connection
  };
  const onDisconnect: Handler = (proto, ...args) => {
    goodbye = true;
    disconnect(proto, ...args);
  };
  const onChannelOpen: Handler = (proto, ...args) => {
    opened = true;
    channelOpen(proto, ...args);
  };
  table['SERVICE_REQUEST'] = onService as MessageHandler;
  table['DISCONNECT'] = onDisconnect as MessageHandler;
  table['CHANNEL_OPEN'] = onChannelOpen as MessageHandler;
  return end;
}
