import type { Client as SshClient, SocketBindInfo, TcpipBindInfo } from 'ssh2';
import type { ChannelContext } from './channel-context.js';
import { forwardToClient } from './forward-relay.js';

// Remote forwarding (ssh -R; TCP ports and Unix sockets). The client's request is passed on to the target,
// whose sshd listens as it would for a direct login (so its AllowTcpForwarding, GatewayPorts, PermitListen
// and AllowStreamLocalForwarding apply on top of the policy's rules); each connection it accepts arrives as a
// forwarded channel, which Gatehouse opens to the client in turn. The target's sshd stops listening when the
// session ends, with the target connection.

type Accept = ((chosenPort?: number) => void) | undefined;
type Reject = (() => void) | undefined;

export function serveRemoteForwarding(s: ChannelContext, upstream: SshClient): void {
  s.conn.on('request', (accept: Accept, reject: Reject, name: string, info: unknown) => {
    const tcp = info as TcpipBindInfo;
    const path = (info as SocketBindInfo).socketPath;
    const rules = s.rules;
    switch (name) {
      case 'tcpip-forward':
        return request(s, name, `${tcp.bindAddr}:${tcp.bindPort}`, rules.tcpForwarding.remote, accept, reject, (done) =>
          upstream.forwardIn(tcp.bindAddr, tcp.bindPort, (err, port) => done(err, `${tcp.bindAddr}:${port}`, port)));
      case 'cancel-tcpip-forward':
        return request(s, name, `${tcp.bindAddr}:${tcp.bindPort}`, true, accept, reject, (done) =>
          upstream.unforwardIn(tcp.bindAddr, tcp.bindPort, (err) => done(err)));
      case 'streamlocal-forward@openssh.com':
        return request(s, name, path, rules.streamLocalForwarding.remote, accept, reject, (done) =>
          upstream.openssh_forwardInStreamLocal(path, (err) => done(err)));
      case 'cancel-streamlocal-forward@openssh.com':
        return request(s, name, path, true, accept, reject, (done) =>
          upstream.openssh_unforwardInStreamLocal(path, (err) => done(err)));
      default:
        reject?.();
    }
  });

  upstream.on('tcp connection', (d, acceptUp, rejectUp) => forwardToClient(
    s, 'forwarded-tcpip', { listen: `${d.destIP}:${d.destPort}`, from: `${d.srcIP}:${d.srcPort}` },
    (cb) => s.conn.forwardOut(d.destIP, d.destPort, d.srcIP, d.srcPort, cb), acceptUp, rejectUp));
  upstream.on('unix connection', (d, acceptUp, rejectUp) => forwardToClient(
    s, 'forwarded-streamlocal', { listen: d.socketPath },
    (cb) => s.conn.openssh_forwardOutStreamLocal(d.socketPath, cb), acceptUp, rejectUp));
}

type Done = (err: Error | null | undefined, listen?: string, port?: number) => void;

/**
 * Passes one global request (`name`) on to the target and answers the client with the outcome. `listen` names
 * the address or socket for the log; a tcpip-forward for port 0 learns the target's port from the answer.
 * Cancels are always allowed: they can only remove what the target already holds for this session.
 */
function request(s: ChannelContext, name: string, listen: string, allowed: boolean | undefined, accept: Accept, reject: Reject, send: (done: Done) => void): void {
  const cancel = name.startsWith('cancel-');
  if (!allowed) {
    s.log.info({ event: 'forward.refused', request: name, listen }, 'not allowed by policy');
    return reject?.();
  }
  const done: Done = (err, bound = listen, port) => {
    if (err) {
      s.log.info({ event: cancel ? 'forward.cancel_failed' : 'forward.refused', request: name, listen, err: err.message }, 'the target refused the request');
      return reject?.();
    }
    if (cancel) s.log.info({ event: 'forward.closed', request: name, listen }, 'remote forward cancelled');
    else s.log.info({ event: 'forward.open', request: name, listen: bound }, 'remote forward listening on the target');
    accept?.(port);
  };
  // ssh2 throws when the target connection is already gone (a session draining after the target closed);
  // that must become a refusal, not an error inside the client's packet parser.
  try {
    if (s.closed) throw new Error('session closing');
    send(done);
  } catch (err) {
    s.log.info({ event: 'forward.refused', request: name, listen, err: (err as Error).message }, 'the target connection is gone');
    reject?.();
  }
}
