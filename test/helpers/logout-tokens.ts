import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/identity/logout-token.js';

// Logout tokens made by the test: a key pair whose public half a loopback "issuer" publishes (discovery and
// JWKS), and a second key nobody publishes, for forgeries.

export interface TokenIssuer {
  readonly issuer: string;
  /** Signs a logout token; `claims` overrides or (with undefined) removes the defaults. */
  sign(claims: Record<string, unknown>, opts?: { forged?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

export async function startTokenIssuer(audience: string): Promise<TokenIssuer> {
  const good = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'test-issuer-1', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    async sign(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const all: Record<string, unknown> = {
        iss: issuer, aud: audience, iat: now, exp: now + 120, jti: randomUUID(), sub: 'alice', sid: 'sid-1',
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...claims,
      };
      for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
      const key = opts.forged ? rogue.privateKey : good.privateKey;
      return new SignJWT(all as JWTPayload).setProtectedHeader({ alg: 'RS256', kid: 'test-issuer-1', typ: 'logout+jwt' }).sign(key);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
