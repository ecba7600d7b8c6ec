import type { Client as SshClient } from 'ssh2';
import type { ChannelContext } from './channel-context.js';
import { forwardToClient } from './forward-relay.js';

// X11 forwarding (ssh -X, -Y), where the policy allows it. The client's x11-req goes to the target with the
// shell or exec (session-bridge.ts); the target's sshd then offers a display, and each program that connects
// to it arrives as an x11 channel, which Gatehouse opens to the client in turn. The client checks and
// replaces the stand-in cookie in each connection, as it does without a bastion in between.

export function serveX11(s: ChannelContext, upstream: SshClient): void {
  upstream.on('x11', (d, acceptUp, rejectUp) => forwardToClient(
    s, 'x11', { from: `${d.srcIP}:${d.srcPort}` },
    (cb) => s.conn.x11(d.srcIP, d.srcPort, cb), acceptUp, rejectUp));
}
