import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import ssh2, { type ClientInfo, type Connection, type ServerConfig } from 'ssh2';
import type { ListenAddress } from '../config/schema.js';
import { BastionError } from '../core/errors.js';
import type { Runtime } from '../session/runtime.js';
import type { SessionRegistry } from '../session/registry.js';
import { Session } from '../session/session.js';
import type { ConnectionDb } from '../store/connection-db.js';
import { defaultInboundCiphers } from '../ssh2x/algorithms.js';
import { offerFor, watchClientOffer } from '../ssh2x/client-offer.js';
import { onAliveTimeout } from '../ssh2x/connection-end.js';
import { connectionInternalsPresent } from '../ssh2x/internals.js';
import { disconnectWith, NO_MORE_AUTH_METHODS, socketOf, tuneConnection } from '../ssh2x/protocol-extras.js';
import { patchConnection } from '../ssh2x/ssh2-patches.js';
import { Admission, type Ticket } from './admission.js';
import { AuthAdapter } from './auth-adapter.js';
import { Penalties } from './penalties.js';
import { proxiedFront } from './proxied-listener.js';

// The SSH front door: a TCP listener per listen address whose connections pass admission (admission.ts:
// penalties, MaxStartups, per-source limits, a deadline from accept) before they are handed to ssh2. Each
// becomes a Session with an AuthAdapter for its login, and is handed over with Session.activate() once the
// login is accepted; from there the session routes its channels (session/channel-router.ts). This file never
// touches a channel.

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
  private readonly servers: NetServer[] = [];
  private internalsChecked = false;
  readonly penalties: Penalties;
  private readonly admission: Admission;
  /** The admission ticket of each socket handed to ssh2, found again when ssh2 reports the connection. */
  private readonly tickets = new WeakMap<Socket, Ticket>();

  constructor(private readonly deps: SshServerDeps) {
    this.penalties = new Penalties(() => deps.runtime().config.penalties, deps.log);
    this.admission = new Admission(() => {
      const { admission, timeouts } = deps.runtime().config;
      return { ...admission, graceMs: timeouts.loginGraceMs };
    }, this.penalties, deps.log);
  }

  async listen(addresses: readonly ListenAddress[]): Promise<AddressInfo[]> {
    const config = serverConfig(this.deps.runtime());
    const bound: AddressInfo[] = [];
    // One ssh2 server takes the admitted sockets of every listener; it never listens itself.
    const ssh = new ssh2.Server(config, (conn, info) => this.onConnection(conn, info));
    for (const addr of addresses) {
      // Admission reads the client address: behind a load balancer, only once the PROXY header has given the
      // real one (proxied-listener.ts), so that limits and penalties apply to clients, not to the balancer.
      const admit = (sock: Socket): void => {
        const ticket = this.admission.admit(sock);
        if (!ticket) return;
        this.tickets.set(sock, ticket);
        ssh.injectSocket(sock);
      };
      const server = addr.proxyProtocol ? proxiedFront(admit, addr.proxyProtocol, this.deps.log) : createServer({ noDelay: true }, admit);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(addr.port, addr.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err: Error) => this.deps.log.error({ err, event: 'server.error' }, 'listener error'));
      // EMFILE and the like: the connection is lost, the listener goes on (net.Server keeps accepting).
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
    // Before any packet is handled: the client's algorithm offer, for the log line of a failed negotiation.
    const offer = watchClientOffer(conn);
    // First thing: ssh2 emits 'error' for bad packets and resets, and an unhandled one would end the process.
    conn.on('error', (err: Error & { level?: string }) => {
      // A failed key exchange (no common cipher, a bad packet) is what an administrator looks for when a client
      // cannot connect (logged with what the client offered, as OpenSSH's sshd does); other client errors
      // (resets) are routine.
      if (err.level === 'handshake') {
        const clientOffer = offerFor(err.message, offer());
        log.info({ event: 'client.handshake_failed', ip: info.ip, port: info.port, client: info.header.versions.software, reason: err.message, ...(clientOffer !== undefined ? { clientOffer } : {}) }, 'SSH handshake failed');
      } else {
        log.debug({ event: 'client.error', ip: info.ip, err: err.message }, 'client connection error');
      }
    });
    if (!this.internalsChecked) {
      this.internalsChecked = true;
      if (!connectionInternalsPresent(conn)) {
        log.error({ event: 'ssh2.internals_missing', code: 'SSH2_INTERNALS_CHANGED' },
          'this ssh2 connection lacks the private fields Gatehouse uses: banners, disconnect messages, agent forwarding, repeated service requests and how clients left will not work; install the ssh2 version package.json pins');
      }
    }
    const peer = patchConnection(conn);
    tuneConnection(conn);
    const sock = socketOf(conn);
    const ticket = sock && this.tickets.get(sock);
    if (!ticket) {
      // Only admitted sockets reach ssh2; anything else is a bug, and is not served.
      log.error({ event: 'session.unadmitted', ip: info.ip }, 'connection without an admission ticket; closed');
      conn.end();
      return;
    }
    const { store, instance } = db();
    const s = new Session(conn, { ip: info.ip, port: info.port }, rt, log, { store, instance, admit: (x) => registry.admitAnywhere(x), onClosed: (x) => registry.remove(x) });
    registry.add(s);
    s.log.info({ event: 'session.connect', client: info.header.versions.software }, 'connection');
    onAliveTimeout(conn, () => void s.close('client_timeout', new BastionError('CLIENT_TIMEOUT',
      `client answered none of ${cfg.ssh.clientAliveCountMax} alive checks ${cfg.ssh.clientAliveIntervalMs} ms apart`)));

    // The deadline runs from TCP accept, not from the last packet: a client must not hold a login slot open
    // forever by trickling answers.
    ticket.onDeadline(() => {
      if (s.phase !== 'login') return;
      this.penalties.record(info.ip, 'grace_exceeded');
      disconnectWith(conn, NO_MORE_AUTH_METHODS, 'Login timed out.');
      void s.close('login_timeout', new BastionError('LOGIN_TIMEOUT', `login not finished within ${cfg.timeouts.loginGraceMs} ms of the TCP connection`));
    });
    s.onClose(() => ticket.release());

    const auth = new AuthAdapter(s, conn, {
      maxAuthTries: cfg.admission.maxAuthTries,
      failureDelayMs: cfg.admission.authFailureDelayMs,
      onFailedLogin: () => this.penalties.record(info.ip, 'authfail'),
    }, (grant) => {
      ticket.release();
      s.activate(grant);
    });
    conn.on('authentication', (ctx) => auth.handle(ctx));
    conn.once('close', () => {
      if (s.phase === 'login') this.penalties.record(info.ip, 'noauth');
      // A logout is a client that said goodbye (OpenSSH's does on every normal exit) or, as PuTTY does, closed
      // the connection once its channels were closed; one that just went (killed, network lost) is client_gone.
      void s.close(s.phase === 'active' && peer.leftNormally() ? 'logout' : 'client_gone');
    });
  }
}
