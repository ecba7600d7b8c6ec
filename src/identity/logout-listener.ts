import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { IdentityLogoutConfig } from '../config/identity-logout.js';
import type { IdentityEnder } from '../session/identity-logout.js';
import { LogoutTokenError, LogoutTokenVerifier, type LogoutClaims, type SharedReplay } from './logout-token.js';

// OpenID Connect Back-Channel Logout 1.0, the relying party's side: an HTTP(S) endpoint where an identity
// provider POSTs a logout_token when a user's session there ends. A valid token ends, at once, every live
// session bound (through the AA plugin's `identity` result) to that provider session (sid) or user (sub).
// An invalid one gets 400 with a JSON error (section 2.8), is logged with the reason, and ends nothing.
// Which sessions "every" means is the IdentityEnder's business: this process's, every worker's (the primary of
// `workers: N` owns the listener), and with database.url every host's.

/** A logout token is a few kilobytes at most; anything bigger is not one. */
const MAX_BODY = 64 * 1024;
const REQUEST_MS = 10_000;
const MAX_CONNECTIONS = 64;
export { IDP_LOGOUT_MESSAGE } from '../session/identity-logout.js';

export class IdentityLogoutListener {
  private server: Server | undefined;
  private readonly verifier: LogoutTokenVerifier;

  /** `shared`: the jti record of every host sharing the database, so that a replay is refused on any of them. */
  constructor(private readonly config: IdentityLogoutConfig, private readonly sessions: IdentityEnder, private readonly log: Logger, shared?: SharedReplay) {
    this.verifier = new LogoutTokenVerifier(config.providers, config.maxTokenAgeMs, config.replayCacheSize, shared);
  }

  async listen(): Promise<AddressInfo> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.serve(req, res).catch((err: unknown) => {
        // Never an unhandled rejection: that would take the whole bastion down.
        this.log.error({ event: 'identity.error', err: (err as Error).message }, 'logout request failed');
        res.destroy();
      });
    };
    const server = this.config.tls ? createHttpsServer({ cert: this.config.tls.cert, key: this.config.tls.key }, handler) : createHttpServer(handler);
    server.requestTimeout = REQUEST_MS;
    server.headersTimeout = REQUEST_MS / 2;
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.listen.port, this.config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.log.error({ event: 'identity.error', err: err.message }, 'identity logout listener error'));
    this.server = server;
    const address = server.address() as AddressInfo;
    this.log.info({ event: 'identity.listening', address: `${address.address}:${address.port}`, path: this.config.path, tls: !!this.config.tls },
      'back-channel logout listener ready');
    return address;
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = undefined;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const reject = (status: number, why: string, jti?: string): void => {
      this.log.warn({ event: 'identity.logout_rejected', remote, reason: why, ...(jti ? { jti } : {}) }, `logout request refused: ${why}`);
      reply(res, status, { error: 'invalid_request', error_description: why });
    };
    const path = (req.url ?? '').split('?')[0];
    if (path !== this.config.path) return reply(res, 404, { error: 'not_found' });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reply(res, 405, { error: 'invalid_request', error_description: 'POST only' });
    }
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      return reject(400, 'the body must be application/x-www-form-urlencoded');
    }
    const body = await readBody(req);
    if (body === undefined) return reject(400, `the body is larger than ${MAX_BODY} bytes`);
    const token = new URLSearchParams(body).get('logout_token');
    if (!token) return reject(400, 'no logout_token');
    let claims: LogoutClaims;
    try {
      claims = await this.verifier.verify(token);
    } catch (err) {
      if (err instanceof LogoutTokenError) return reject(400, err.message);
      this.log.error({ event: 'identity.error', err: (err as Error).message }, 'logout token check failed');
      return reply(res, 500, { error: 'server_error' });
    }
    let ended: string[];
    try {
      ended = await this.sessions.endByIdentity(claims);
    } catch (err) {
      this.log.error({ event: 'identity.error', jti: claims.jti, err: (err as Error).message }, 'ending the sessions of a logout token failed');
      return reply(res, 500, { error: 'server_error' });
    }
    this.log.info({ event: 'identity.logout', remote, issuer: claims.issuer, jti: claims.jti, idpSid: claims.sid, sub: claims.sub, sessions: ended },
      `logout token ${claims.jti} ended ${ended.length} session(s)`);
    reply(res, 200, undefined);
  }
}

function reply(res: ServerResponse, status: number, body: Record<string, string> | undefined): void {
  res.writeHead(status, { 'cache-control': 'no-store', ...(body ? { 'content-type': 'application/json' } : {}) });
  res.end(body ? JSON.stringify(body) : undefined);
}

/** The request body as text, or undefined when it is too large (the rest is not read). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}
