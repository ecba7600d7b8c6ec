import type { AcceptConnection, Channel, Client as SshClient, RejectConnection, TcpipRequestInfo } from 'ssh2';
import type { Session } from '../session/session.js';
import { byteCounters, flushed, ignore, Pump } from './streams.js';

// Local port forwarding (ssh -L / -W, direct-tcpip): the target's sshd opens the connection, so the target's
// own forwarding rules apply on top of the policy's allow_tcp_forwarding. The client channel is accepted only
// once the target has opened its side, so a refused forward is reported to the client as one.

export function bridgeTcpip(s: Session, id: number, accept: AcceptConnection<Channel>, reject: RejectConnection, info: TcpipRequestInfo, upstream: SshClient): void {
  if (!s.policy?.allowTcpForwarding) {
    s.log.info({ event: 'channel.refused', ch: id, type: 'direct-tcpip', dest: `${info.destIP}:${info.destPort}` }, 'tcp forwarding not allowed by policy');
    reject();
    return;
  }
  upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
    if (err) {
      s.log.info({ event: 'channel.refused', ch: id, type: 'direct-tcpip', dest: `${info.destIP}:${info.destPort}`, err: err.message }, 'target refused the forward');
      reject();
      return;
    }
    const client = accept();
    client.on('error', ignore);
    up.on('error', ignore);
    const counters = { toTarget: 0, toClient: 0 };
    const count = byteCounters(counters, s.bytes);
    s.log.info({ event: 'channel.open', ch: id, type: 'direct-tcpip', dest: `${info.destIP}:${info.destPort}` }, 'channel open');
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
      s.log.info({ event: 'channel.close', ch: id, type: 'direct-tcpip', by, bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
    };
    client.once('close', () => void close('client'));
    up.once('close', () => void close('target'));
    s.trackChannel(new Promise((resolve) => { client.once('close', resolve); up.once('close', resolve); }));
  });
}
