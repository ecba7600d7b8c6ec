import type { Client as SshClient } from 'ssh2';
import type { Session } from '../session/session.js';
import { relayForward } from './forward-relay.js';

// X11 forwarding (ssh -X, -Y), where the policy allows it. The client's x11-req goes to the target with the
// shell or exec (session-bridge.ts); the target's sshd then offers a display, and each program that connects
// to it arrives as an x11 channel, which Gatehouse opens to the client in turn. The client checks and
// replaces the stand-in cookie in each connection, as it does without a bastion in between.

export function serveX11(s: Session, upstream: SshClient, nextChannelId: () => number): void {
  upstream.on('x11', (details, acceptUp, rejectUp) => {
    if (s.closed) return rejectUp();
    const id = nextChannelId();
    const from = `${details.srcIP}:${details.srcPort}`;
    s.conn.x11(details.srcIP, details.srcPort, (err, client) => {
      if (err) {
        s.log.info({ event: 'channel.refused', ch: id, type: 'x11', from, err: err.message }, 'client refused the X11 connection');
        return rejectUp();
      }
      relayForward(s, id, 'x11', { from }, client, acceptUp());
    });
  });
}
