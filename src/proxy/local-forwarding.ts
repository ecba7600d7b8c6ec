import type { AcceptConnection, Channel, ClientChannel, RejectConnection } from 'ssh2';
import type { ChannelContext } from './channel-context.js';
import { openOnTarget, relayForward } from './forward-relay.js';

// Local forwarding (ssh -L, -W; TCP ports and Unix sockets): the target's sshd opens the connection, so the
// target's own forwarding rules apply on top of the policy's. The client's channel is accepted only once the
// target has opened its side, so that a refused forward is reported to the client as one.

export interface LocalForward {
  readonly type: 'direct-tcpip' | 'direct-streamlocal';
  /** The far end, for the log: host:port or a socket path. */
  readonly dest: string;
  /** Whether the policy allows this kind of forward. */
  readonly allowed: boolean;
  /** Opens the target's side. */
  readonly open: (cb: (err: Error | undefined, up: ClientChannel) => void) => void;
}

export function bridgeLocalForward(s: ChannelContext, id: number, f: LocalForward, accept: AcceptConnection<Channel>, reject: RejectConnection): void {
  if (!f.allowed) {
    s.log.info({ event: 'channel.refused', ch: id, type: f.type, dest: f.dest }, 'forwarding not allowed by policy');
    reject();
    return;
  }
  const opened = (err: Error | undefined, up: ClientChannel): void => {
    if (err) {
      s.log.info({ event: 'channel.refused', ch: id, type: f.type, dest: f.dest, err: err.message }, 'target refused the forward');
      reject();
      return;
    }
    relayForward(s, id, f.type, { dest: f.dest }, accept(), up);
  };
  openOnTarget(f.open, opened);
}
