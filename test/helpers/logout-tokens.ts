import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/identity/logout-token.js';

export type SigningKey = Parameters<SignJWT['sign']>[0];

// Logout tokens made by the test: a key pair whose public half a loopback "issuer" publishes (discovery and
// JWKS), and a second key nobody publishes, for forgeries.

export interface TokenIssuer {
  readonly issuer: string;
  /** Signs a logout token; `claims` overrides or (with undefined) removes the defaults. */
  sign(claims: Record<string, unknown>, opts?: { forged?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

/** A logout token as `issuer` would send it to `audience` for `sid`/`sub`; `claims` override or (undefined) remove. */
export function signLogoutToken(key: SigningKey, kid: string, defaults: Record<string, unknown>, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const all: Record<string, unknown> = { iat: now, exp: now + 120, jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...defaults, ...claims };
  for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
  return new SignJWT(all as JWTPayload).setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' }).sign(key);
}

/** POSTs a logout token to Gatehouse's back-channel logout listener, as a provider does. */
export async function postLogoutToken(url: string, token: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(), signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text() };
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
    sign(claims, opts = {}) {
      return signLogoutToken((opts.forged ? rogue : good).privateKey as SigningKey, 'test-issuer-1', { iss: issuer, aud: audience, sub: 'alice', sid: 'sid-1' }, claims);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
