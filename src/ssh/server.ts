import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import ssh2, { type AcceptConnection, type Channel, type Client as SshClient, type ClientInfo, type Connection, type RejectConnection, type ServerConfig } from 'ssh2';
import type { ListenAddress } from '../config/schema.js';
import { BastionError } from '../errors.js';
import { bridgeLocalForward, type LocalForward } from '../proxy/local-forwarding.js';
import { serveRemoteForwarding } from '../proxy/remote-forwarding.js';
import { bridgeSessionChannel } from '../proxy/session-bridge.js';
import { serveX11 } from '../proxy/x11-forwarding.js';
import type { Runtime } from '../runtime.js';
import type { SessionRegistry } from '../session/registry.js';
import { Session } from '../session/session.js';
import type { SessionStore } from '../store/session-store.js';
import { defaultInboundCiphers } from './algorithms.js';
import { AuthAdapter } from './auth-adapter.js';
import { onAliveTimeout } from './connection-end.js';
import { disconnectWith, NO_MORE_AUTH_METHODS, tuneConnection } from './protocol-extras.js';

// The SSH front door: one ssh2 Server per listen address. Each connection becomes a Session with an
// AuthAdapter for its login; once the login is accepted, the client's channels are bridged to the target.
// Remote forwarding requests are passed on to the target. Channels the client opens other than session and
// forwards (x11, auth-agent: only servers open those) are refused by ssh2 for lack of a listener.

export interface SshServerDeps {
  readonly runtime: () => Runtime;
  readonly log: Logger;
  readonly store: SessionStore;
  readonly registry: SessionRegistry;
}

/** The longest delay a Node timer takes (24.8 days). */
const NEVER_MS = 2 ** 31 - 1;

/** ssh2's server settings from the configuration: host keys, alive checks, the algorithms offered. */
export function serverConfig(rt: Runtime): ServerConfig {
  const { ssh } = rt.config;
  return {
    hostKeys: rt.hostKeys.map((k) => k.pem),
    ident: 'Gatehouse',
    // ssh2 replaces a 0 interval by its own 15 s default, so "never" is the longest interval a timer takes.
    keepaliveInterval: ssh.clientAliveIntervalMs > 0 ? ssh.clientAliveIntervalMs : NEVER_MS,
    keepaliveCountMax: ssh.clientAliveCountMax,
    algorithms: {
      cipher: ssh.ciphers ?? defaultInboundCiphers(),
      ...(ssh.kex ? { kex: ssh.kex } : {}),
      ...(ssh.macs ? { hmac: ssh.macs } : {}),
      ...(ssh.hostKeyAlgorithms ? { serverHostKey: ssh.hostKeyAlgorithms } : {}),
    } as ServerConfig['algorithms'],
  };
}

export class SshServer {
  private readonly servers: ssh2.Server[] = [];

  constructor(private readonly deps: SshServerDeps) {}

  async listen(addresses: readonly ListenAddress[]): Promise<AddressInfo[]> {
    const config = serverConfig(this.deps.runtime());
    const bound: AddressInfo[] = [];
    for (const addr of addresses) {
      const server = new ssh2.Server(config, (conn, info) => this.onConnection(conn, info));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(addr.port, addr.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err: Error) => this.deps.log.error({ err, event: 'server.error' }, 'listener error'));
      this.servers.push(server);
      const a = server.address() as AddressInfo;
      bound.push(a);
      this.deps.log.info({ event: 'server.listening', address: a.address, port: a.port, ciphers: config.algorithms?.cipher }, 'listening');
    }
    return bound;
  }

  /** Stops accepting connections. Live sessions are left to the caller (net.Server's close callback would
   * wait for them, so it is not awaited here). */
  stopListening(): void {
    for (const s of this.servers.splice(0)) s.close();
  }

  private onConnection(conn: Connection, info: ClientInfo): void {
    const { registry, store, log } = this.deps;
    const rt = this.deps.runtime();
    const cfg = rt.config;
    // First thing: ssh2 emits 'error' for bad packets and resets, and an unhandled one would end the process.
    conn.on('error', (err: Error) => log.debug({ event: 'client.error', ip: info.ip, err: err.message }, 'client connection error'));
    tuneConnection(conn);
    if (registry.loggingIn >= cfg.limits.maxUnauthenticated) {
      log.warn({ event: 'session.refused', ip: info.ip, limit: cfg.limits.maxUnauthenticated }, 'too many logins in progress; connection refused');
      conn.end();
      return;
    }
    const s = new Session(conn, { ip: info.ip, port: info.port }, rt, log, { store, onClosed: (x) => registry.remove(x) });
    registry.add(s);
    s.log.info({ event: 'session.connect', client: info.header.versions.software }, 'connection');
    onAliveTimeout(conn, () => void s.close('client_timeout', new BastionError('CLIENT_TIMEOUT',
      `client answered none of ${cfg.ssh.clientAliveCountMax} alive checks ${cfg.ssh.clientAliveIntervalMs} ms apart`)));

    // The deadline runs from the connection, not from the last packet: a client must not hold a login slot
    // open forever by trickling answers.
    const grace = setTimeout(() => {
      if (s.phase !== 'login') return;
      disconnectWith(conn, NO_MORE_AUTH_METHODS, 'Login timed out.');
      void s.close('login_timeout', new BastionError('LOGIN_TIMEOUT', `login not finished within ${cfg.timeouts.loginGraceMs} ms`));
    }, cfg.timeouts.loginGraceMs);
    s.onClose(() => clearTimeout(grace));

    let channels = 0;
    const auth = new AuthAdapter(s, conn, (upstream) => {
      clearTimeout(grace);
      s.upstream = upstream;
      s.phase = 'active';
      s.resetIdle(Date.now()); // the login's questions are not idle time
      s.log.info({ event: 'session.active', gatewayUser: s.gateway?.user }, 'login accepted');
      upstream.on('error', (err: Error) => s.log.warn({ event: 'target.error', err: err.message }, 'target connection error'));
      // close() tells the user why, as OpenSSH's client does when its own ServerAlive checks give up.
      onAliveTimeout(upstream, () => void s.close('target_closed', new BastionError('TARGET_TIMEOUT',
        `target answered none of ${cfg.ssh.targetAliveCountMax} alive checks ${cfg.ssh.targetAliveIntervalMs} ms apart`,
        { userMessage: `The server ${s.target?.name ?? ''} stopped answering.` })));
      // Let open channels deliver their last output and exit status before the client connection goes.
      upstream.once('close', () => void s.channelsDone(5_000).then(() => s.close('target_closed')));
      serveRemoteForwarding(s, upstream, () => ++channels);
      serveX11(s, upstream, () => ++channels);
    });
    conn.on('authentication', (ctx) => auth.handle(ctx));

    conn.on('session', (accept, reject) => {
      if (s.phase !== 'active' || !s.upstream) return reject();
      bridgeSessionChannel(s, ++channels, accept, s.upstream);
    });
    const localForward = (accept: AcceptConnection<Channel>, reject: RejectConnection, forward: (up: SshClient) => LocalForward): void => {
      if (s.phase !== 'active' || !s.upstream) return reject();
      bridgeLocalForward(s, ++channels, forward(s.upstream), accept, reject);
    };
    conn.on('tcpip', (accept, reject, i) => localForward(accept, reject, (up) => ({
      type: 'direct-tcpip', dest: `${i.destIP}:${i.destPort}`, allowed: Boolean(s.policy?.tcpForwarding.local),
      open: (cb) => up.forwardOut(i.srcIP, i.srcPort, i.destIP, i.destPort, cb),
    })));
    conn.on('openssh.streamlocal', (accept, reject, i) => localForward(accept, reject, (up) => ({
      type: 'direct-streamlocal', dest: i.socketPath, allowed: Boolean(s.policy?.streamLocalForwarding.local),
      open: (cb) => up.openssh_forwardOutStreamLocal(i.socketPath, cb),
    })));
    conn.once('close', () => void s.close(s.phase === 'active' ? 'logout' : 'client_gone'));
  }
}
