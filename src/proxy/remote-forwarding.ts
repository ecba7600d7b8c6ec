import type { Client as SshClient, TcpipBindInfo } from 'ssh2';
import type { Session } from '../session/session.js';
import { relayTcpip } from './tcpip-bridge.js';

// Remote port forwarding (ssh -R port:host:hostport). The client's tcpip-forward request is passed on to the
// target, whose sshd listens as it would for a direct login (so its AllowTcpForwarding and GatewayPorts apply
// on top of the policy's allow_tcp_forwarding); each connection it accepts arrives as a forwarded-tcpip
// channel, which Gatehouse opens to the client in turn. The target's sshd stops listening when the session
// ends, with the target connection. Unix-socket forwarding (-R /path) is refused.

type Accept = ((chosenPort?: number) => void) | undefined;
type Reject = (() => void) | undefined;

export function serveRemoteForwarding(s: Session, upstream: SshClient, nextChannelId: () => number): void {
  s.conn.on('request', (accept: Accept, reject: Reject, name: string, info: unknown) => {
    const bind = info as TcpipBindInfo;
    if (name === 'tcpip-forward') return forward(s, upstream, bind, accept, reject);
    if (name === 'cancel-tcpip-forward') return cancel(s, upstream, bind, accept, reject);
    s.log.info({ event: 'forward.refused', request: name }, 'unix-socket forwarding is not supported');
    reject?.();
  });

  upstream.on('tcp connection', (details, acceptUp, rejectUp) => {
    const listen = `${details.destIP}:${details.destPort}`;
    const from = `${details.srcIP}:${details.srcPort}`;
    if (s.closed) return rejectUp();
    const id = nextChannelId();
    s.conn.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, client) => {
      if (err) {
        s.log.info({ event: 'channel.refused', ch: id, type: 'forwarded-tcpip', listen, from, err: err.message }, 'client refused the forwarded connection');
        rejectUp();
        return;
      }
      relayTcpip(s, id, 'forwarded-tcpip', { listen, from }, client, acceptUp());
    });
  });
}

/**
 * Runs a request to the target; ssh2 throws when the target connection is already gone (a session draining
 * after the target closed), and that must become a refusal, not an error inside the client's packet parser.
 */
function toTarget(s: Session, listen: string, reject: Reject, send: () => void): void {
  try {
    if (s.closed) throw new Error('session closing');
    send();
  } catch (err) {
    s.log.info({ event: 'forward.refused', listen, err: (err as Error).message }, 'the target connection is gone');
    reject?.();
  }
}

function forward(s: Session, upstream: SshClient, bind: TcpipBindInfo, accept: Accept, reject: Reject): void {
  const listen = `${bind.bindAddr}:${bind.bindPort}`;
  if (!s.policy?.tcpForwarding.remote) {
    s.log.info({ event: 'forward.refused', listen }, 'remote forwarding not allowed by policy');
    reject?.();
    return;
  }
  toTarget(s, listen, reject, () => upstream.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => {
    if (err) {
      s.log.info({ event: 'forward.refused', listen, err: err.message }, 'target refused the remote forward');
      reject?.();
      return;
    }
    s.log.info({ event: 'forward.open', listen: `${bind.bindAddr}:${port}` }, 'remote forward listening on the target');
    accept?.(port);
  }));
}

function cancel(s: Session, upstream: SshClient, bind: TcpipBindInfo, accept: Accept, reject: Reject): void {
  const listen = `${bind.bindAddr}:${bind.bindPort}`;
  toTarget(s, listen, reject, () => upstream.unforwardIn(bind.bindAddr, bind.bindPort, (err) => {
    if (err) {
      s.log.info({ event: 'forward.cancel_failed', listen, err: err.message }, 'target refused to cancel the remote forward');
      reject?.();
      return;
    }
    s.log.info({ event: 'forward.closed', listen }, 'remote forward cancelled');
    accept?.();
  }));
}
