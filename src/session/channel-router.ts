import type { AcceptConnection, Channel, Client as SshClient, RejectConnection } from 'ssh2';
import { BastionError } from '../core/errors.js';
import { bridgeLocalForward, type LocalForward } from '../proxy/local-forwarding.js';
import { serveRemoteForwarding } from '../proxy/remote-forwarding.js';
import { bridgeSessionChannel } from '../proxy/session-bridge.js';
import { serveX11 } from '../proxy/x11-forwarding.js';
import { onAliveTimeout } from '../ssh2x/connection-end.js';
import { channelGate } from './channel-rules.js';
import type { LoginGrant } from './grant.js';
import type { Session } from './session.js';

// The active session answers its client's channel requests: each kind is routed to its bridge in proxy/ with
// the policy's rules applied here (a session channel's requests through the gate of channel-rules.ts), and the target's own offers (remote forwards, X11) come back the same way.
// Channel kinds with no route here are refused by ssh2 for lack of a listener (x11 and auth-agent opens from a
// client: only servers open those).

export function routeChannels(s: Session, grant: LoginGrant): void {
  const { upstream, policy, target } = grant;
  const cfg = s.runtime.config;
  const ctx = s.channelContext(policy);
  const gate = channelGate(ctx, policy);
  watchTarget(s, upstream, target.name, cfg.ssh.targetAliveCountMax, cfg.ssh.targetAliveIntervalMs);

  s.conn.on('session', (accept, reject) => {
    if (s.closed) return reject();
    bridgeSessionChannel(ctx, ctx.nextChannelId(), accept, upstream, gate);
  });
  const localForward = (accept: AcceptConnection<Channel>, reject: RejectConnection, f: LocalForward): void => {
    if (s.closed) return reject();
    bridgeLocalForward(ctx, ctx.nextChannelId(), f, accept, reject);
  };
  s.conn.on('tcpip', (accept, reject, i) => localForward(accept, reject, {
    type: 'direct-tcpip', dest: `${i.destIP}:${i.destPort}`, allowed: policy.tcpForwarding.local,
    open: (cb) => upstream.forwardOut(i.srcIP, i.srcPort, i.destIP, i.destPort, cb),
  }));
  s.conn.on('openssh.streamlocal', (accept, reject, i) => localForward(accept, reject, {
    type: 'direct-streamlocal', dest: i.socketPath, allowed: policy.streamLocalForwarding.local,
    open: (cb) => upstream.openssh_forwardOutStreamLocal(i.socketPath, cb),
  }));
  serveRemoteForwarding(ctx, upstream);
  serveX11(ctx, upstream);
}

/** The target's end of the session: its errors are logged, its silence or its close ends the session. */
function watchTarget(s: Session, upstream: SshClient, name: string, countMax: number, intervalMs: number): void {
  upstream.on('error', (err: Error) => s.log.warn({ event: 'target.error', err: err.message }, 'target connection error'));
  // close() tells the user why, as OpenSSH's client does when its own ServerAlive checks give up.
  onAliveTimeout(upstream, () => void s.close('target_closed', new BastionError('TARGET_TIMEOUT',
    `target answered none of ${countMax} alive checks ${intervalMs} ms apart`,
    { userMessage: `The server ${name} stopped answering.` })));
  // Let open channels deliver their last output and exit status before the client connection goes; the
  // user reads why it went (OpenSSH's client says "Connection to NAME closed by remote host." for its own).
  upstream.once('close', () => void s.channelsDone(5_000).then(() => s.close('target_closed', new BastionError('TARGET_CLOSED',
    `target ${name} closed the connection`, { userMessage: `The server ${name} closed the connection.` }))));
}

