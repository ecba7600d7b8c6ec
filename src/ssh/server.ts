import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import ssh2, { type ClientInfo, type Connection, type ServerConfig } from 'ssh2';
import type { ListenAddress } from '../config/schema.js';
import { BastionError } from '../core/errors.js';
import type { Runtime } from '../session/runtime.js';
import type { SessionRegistry } from '../session/registry.js';
import { Session } from '../session/session.js';
import type { ConnectionDb } from '../store/connection-db.js';
import { defaultInboundCiphers } from '../ssh2x/algorithms.js';
import { AuthAdapter } from './auth-adapter.js';
import { onAliveTimeout } from '../ssh2x/connection-end.js';
import { connectionInternalsPresent } from '../ssh2x/internals.js';
import { disconnectWith, NO_MORE_AUTH_METHODS, tuneConnection } from '../ssh2x/protocol-extras.js';
import { proxiedFront } from './proxied-listener.js';

// The SSH front door: one ssh2 Server per listen address. It admits each connection (limits, the login
// deadline, alive checks), makes it a Session with an AuthAdapter for its login, and hands it over with
// Session.activate() once the login is accepted; from there the session routes its channels
// (session/channel-router.ts). This file never touches a channel.

export interface SshServerDeps {
  readonly runtime: () => Runtime;
  readonly log: Logger;
  /** The connection database, open once the server listens. */
  readonly db: () => Pick<ConnectionDb, 'store' | 'instance'>;
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
  private readonly servers: (ssh2.Server | NetServer)[] = [];
  private internalsChecked = false;

  constructor(private readonly deps: SshServerDeps) {}

  async listen(addresses: readonly ListenAddress[]): Promise<AddressInfo[]> {
    const config = serverConfig(this.deps.runtime());
    const bound: AddressInfo[] = [];
    for (const addr of addresses) {
      const ssh = new ssh2.Server(config, (conn, info) => this.onConnection(conn, info));
      // Behind a load balancer, a plain TCP server reads the PROXY header first and hands the socket to ssh2.
      const server = addr.proxyProtocol ? proxiedFront(ssh, addr.proxyProtocol, this.deps.log) : ssh;
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
      this.deps.log.info({ event: 'server.listening', address: a.address, port: a.port, proxyProtocol: addr.proxyProtocol?.trusted, ciphers: config.algorithms?.cipher }, 'listening');
    }
    return bound;
  }

  /** Stops accepting connections. Live sessions are left to the caller (net.Server's close callback would
   * wait for them, so it is not awaited here). */
  stopListening(): void {
    for (const s of this.servers.splice(0)) s.close();
  }

  private onConnection(conn: Connection, info: ClientInfo): void {
    const { registry, db, log } = this.deps;
    const rt = this.deps.runtime();
    const cfg = rt.config;
    // First thing: ssh2 emits 'error' for bad packets and resets, and an unhandled one would end the process.
    conn.on('error', (err: Error) => log.debug({ event: 'client.error', ip: info.ip, err: err.message }, 'client connection error'));
    if (!this.internalsChecked) {
      this.internalsChecked = true;
      if (!connectionInternalsPresent(conn)) {
        log.error({ event: 'ssh2.internals_missing', code: 'SSH2_INTERNALS_CHANGED' },
          'this ssh2 connection lacks the private fields Gatehouse uses: banners, disconnect messages and agent forwarding will not work; install the ssh2 version package.json pins');
      }
    }
    tuneConnection(conn);
    if (registry.loggingIn >= cfg.limits.maxUnauthenticated) {
      log.warn({ event: 'session.refused', ip: info.ip, limit: cfg.limits.maxUnauthenticated }, 'too many logins in progress; connection refused');
      conn.end();
      return;
    }
    const { store, instance } = db();
    const s = new Session(conn, { ip: info.ip, port: info.port }, rt, log, { store, instance, admit: (x) => registry.admitAnywhere(x), onClosed: (x) => registry.remove(x) });
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

    const auth = new AuthAdapter(s, conn, (grant) => {
      clearTimeout(grace);
      s.activate(grant);
    });
    conn.on('authentication', (ctx) => auth.handle(ctx));
    conn.once('close', () => void s.close(s.phase === 'active' ? 'logout' : 'client_gone'));
  }
}
