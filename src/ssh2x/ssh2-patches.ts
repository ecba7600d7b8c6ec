import type { Connection } from 'ssh2';
import { connectionInternals, type MessageHandler } from './internals.js';

// Runtime patches of ssh2 (pinned ~1.17), per server connection, through the table of message handlers ssh2's
// server hands its protocol object (`_protocol._handlers`, private; internals.ts checks at start-up that ssh2
// still dispatches through it, a coded SSH2_INTERNALS_CHANGED error otherwise). Each wraps ssh2's own handler
// and changes one thing:
// 1. A repeated "ssh-userauth" service request is accepted, as OpenSSH's sshd does (RFC 4253 §10 does not
//    limit it to one). ssh2 disconnects instead, which breaks paramiko: it asks for the service again before
//    every authentication attempt (a key, then the password; or a second password).
// 2. Whether the client said goodbye (SSH_MSG_DISCONNECT) before its connection closed: OpenSSH's client does
//    on every normal exit, so a connection that closes without it is a client that vanished (killed, or its
//    network gone), recorded as `client_gone` rather than `logout`.

type Handler = (proto: { serviceAccept(name: string): void }, ...args: unknown[]) => void;

/**
 * Applies both patches to one server connection; call it from the server's 'connection' event (before the key
 * exchange, so before any service request). `saidGoodbye()` tells whether the client sent SSH_MSG_DISCONNECT.
 */
export function patchConnection(conn: Connection): { readonly saidGoodbye: () => boolean } {
  const c = connectionInternals(conn);
  const table = c._protocol?._handlers;
  let goodbye = false;
  const service = table?.['SERVICE_REQUEST'] as Handler | undefined;
  const disconnect = table?.['DISCONNECT'] as Handler | undefined;
  if (!table || !service || !disconnect) return { saidGoodbye: () => goodbye };
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
  table['SERVICE_REQUEST'] = onService as MessageHandler;
  table['DISCONNECT'] = onDisconnect as MessageHandler;
  return { saidGoodbye: () => goodbye };
}
