import type { AcceptConnection, Channel, Client as SshClient, RejectConnection, TcpipRequestInfo } from 'ssh2';
import type { Session } from '../session/session.js';
import { byteCounters, flushed, ignore, Pump } from './streams.js';

// TCP forwarding channels. Local forwarding (ssh -L / -W, direct-tcpip): the target's sshd opens the
// connection, so the target's own forwarding rules apply on top of the policy's allow_tcp_forwarding, and the
// client channel is accepted only once the target has opened its side, so that a refused forward is reported
// to the client as one. Remote forwarding (ssh -R) ends in the same relay: see remote-forwarding.ts.

export type TcpipType = 'direct-tcpip' | 'forwarded-tcpip';

export function bridgeTcpip(s: Session, id: number, accept: AcceptConnection<Channel>, reject: RejectConnection, info: TcpipRequestInfo, upstream: SshClient): void {
  const dest = `${info.destIP}:${info.destPort}`;
  if (!s.policy?.tcpForwarding.local) {
    s.log.info({ event: 'channel.refused', ch: id, type: 'direct-tcpip', dest }, 'local forwarding not allowed by policy');
    reject();
    return;
  }
  upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
    if (err) {
      s.log.info({ event: 'channel.refused', ch: id, type: 'direct-tcpip', dest, err: err.message }, 'target refused the forward');
      reject();
      return;
    }
    relayTcpip(s, id, 'direct-tcpip', { dest }, accept(), up);
  });
}

/**
 * Carries one forwarded TCP connection between the client's channel and the target's until either side
 * closes, counting bytes into the session's totals. `where` names the ends for the log.
 */
export function relayTcpip(s: Session, id: number, type: TcpipType, where: Record<string, string>, client: Channel, up: Channel): void {
  client.on('error', ignore);
  up.on('error', ignore);
  const counters = { toTarget: 0, toClient: 0 };
  const count = byteCounters(counters, s.bytes);
  s.log.info({ event: 'channel.open', ch: id, type, ...where }, 'channel open');
  // Half-close is kept: the target's EOF becomes an EOF to the client (ending a server-side ssh2 channel
  // would also close it and drop what the client is still sending).
  new Pump(client, up, count.toTarget, true);
  new Pump(up, client, count.toClient, false);
  up.once('end', () => void flushed(client).then(() => client.eof()));
  let closed = false;
  const close = async (by: 'client' | 'target'): Promise<void> => {
    if (closed) return;
    closed = true;
    up.close();
    if (by === 'target') await flushed(client);
    client.close();
    s.log.info({ event: 'channel.close', ch: id, type, by, bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
  };
  client.once('close', () => void close('client'));
  up.once('close', () => void close('target'));
  s.trackChannel(new Promise((resolve) => { client.once('close', resolve); up.once('close', resolve); }));
}
