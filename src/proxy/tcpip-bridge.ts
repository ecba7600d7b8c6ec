import type { AcceptConnection, Channel, Client as SshClient, RejectConnection, TcpipRequestInfo } from 'ssh2';
import type { Session } from '../session/session.js';

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
    const counters = { toTarget: 0, toClient: 0 };
    s.log.info({ event: 'channel.open', ch: id, type: 'direct-tcpip', dest: `${info.destIP}:${info.destPort}` }, 'channel open');
    client.on('data', (c: Buffer) => { counters.toTarget += c.length; s.bytes.toTarget += c.length; });
    up.on('data', (c: Buffer) => { counters.toClient += c.length; s.bytes.toClient += c.length; });
    client.pipe(up);
    up.pipe(client);
    let closed = false;
    const close = (by: string): void => {
      if (closed) return;
      closed = true;
      up.close();
      client.close();
      s.log.info({ event: 'channel.close', ch: id, type: 'direct-tcpip', by, bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
    };
    client.once('close', () => close('client'));
    up.once('close', () => close('target'));
  });
}
