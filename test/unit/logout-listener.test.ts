import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { BastionError } from '../../src/core/errors.js';
import { localSessionControl } from '../../src/control/control-server.js';
import { IdentityLogoutListener } from '../../src/identity/logout-listener.js';
import { parseIdentityLogout } from '../../src/session/identity-logout.js';
import { createLogger } from '../../src/log/logger.js';
import type { PluginIdentity } from '../../src/plugins/verdict.js';
import { SessionRegistry } from '../../src/session/registry.js';
import type { Session } from '../../src/session/session.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/logout-tokens.js';

// The back-channel logout listener over TLS: which bound sessions a token ends (sid, or every session of a
// sub, only at that issuer), and what it answers to requests that are not logout requests.

interface FakeSession {
  id: string;
  identity: PluginIdentity | undefined;
  closed: boolean;
  endedBy: string | undefined;
  closes: { reason: string; error: BastionError }[];
  noteEndedBy(detail: string): void;
  close(reason: string, error: BastionError): Promise<void>;
}

function fake(id: string, identity: PluginIdentity | undefined): FakeSession {
  return {
    id, identity, closed: false, endedBy: undefined, closes: [],
    noteEndedBy(detail) {
      this.endedBy = detail;
    },
    close(reason, error) {
      this.closes.push({ reason, error });
      this.closed = true;
      return Promise.resolve();
    },
  };
}

describe('back-channel logout listener (HTTPS)', () => {
  let op: TokenIssuer;
  let dir: string;
  let listener: IdentityLogoutListener;
  let port = 0;
  let ca = '';
  const registry = new SessionRegistry();
  const logs: Record<string, unknown>[] = [];
  const quiet = createLogger('fatal');

  const post = (path: string, body: string, contentType = 'application/x-www-form-urlencoded', method = 'POST') =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, ca, servername: 'localhost', headers: { 'content-type': contentType } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const logout = async (claims: Record<string, unknown>) => post('/bcl', new URLSearchParams({ logout_token: await op.sign(claims) }).toString());

  before(async () => {
    op = await startTokenIssuer('gatehouse');
    dir = mkdtempSync(join(tmpdir(), 'gh-bcl-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) logs.push(JSON.parse(l)); cb(); } });
    listener = new IdentityLogoutListener({
      listen: { host: '127.0.0.1', port: 0 }, path: '/bcl', tls: { cert: ca, key: readFileSync(join(dir, 'key.pem'), 'utf8') },
      maxTokenAgeMs: 300_000, replayCacheSize: 100, providers: [{ issuer: op.issuer, audience: 'gatehouse', jwksUri: `${op.issuer}/jwks` }],
    }, localSessionControl(registry, quiet), createLogger('debug', sink));
    port = (await listener.listen()).port;
  });
  after(async () => {
    listener.close();
    await op.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a sid ends that provider session only; a sub alone ends all of that user\'s sessions at that issuer', async () => {
    const a1 = fake('a1', { issuer: op.issuer, subject: 'alice', sid: 'sid-A1' });
    const a2 = fake('a2', { issuer: op.issuer, subject: 'alice', sid: 'sid-A2' });
    const b = fake('b', { issuer: op.issuer, subject: 'bob', sid: 'sid-B' });
    const other = fake('x', { issuer: 'https://other.example', subject: 'alice', sid: 'sid-A1' });
    const unbound = fake('u', undefined);
    for (const s of [a1, a2, b, other, unbound]) registry.add(s as unknown as Session);

    const r = await logout({ sub: 'alice', sid: 'sid-A1', jti: 'jti-one' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual([a1, a2, b, other, unbound].map((s) => s.closes.length), [1, 0, 0, 0, 0]);
    assert.equal(a1.closes[0]!.reason, 'idp_logout');
    assert.equal(a1.closes[0]!.error.code, 'IDP_LOGOUT');
    assert.equal(a1.closes[0]!.error.userMessage, 'Your sign-in session ended at the identity provider.');
    assert.equal(a1.endedBy, `logout_token jti=jti-one iss=${op.issuer}`);
    assert.ok(logs.some((l) => l['event'] === 'identity.logout' && l['jti'] === 'jti-one' && JSON.stringify(l['sessions']) === '["a1"]'));

    // sid and sub together must both match.
    assert.equal((await logout({ sub: 'bob', sid: 'sid-A2' })).status, 200);
    assert.equal(a2.closes.length + b.closes.length, 0);

    assert.equal((await logout({ sid: undefined, sub: 'alice' })).status, 200);
    assert.deepEqual([a1, a2, b, other].map((s) => s.closes.length), [1, 1, 0, 0]);
  });

  test('requests that are not logout requests', async () => {
    assert.equal((await post('/elsewhere', 'logout_token=x')).status, 404);
    assert.equal((await post('/bcl', '', 'text/plain', 'GET')).status, 405);
    const json = await post('/bcl', '{"logout_token":"x"}', 'application/json');
    assert.equal(json.status, 400);
    assert.deepEqual(JSON.parse(json.body), { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
    const huge = await post('/bcl', `logout_token=${'a'.repeat(70_000)}`).catch(() => ({ status: 0 }));
    assert.ok(huge.status === 400 || huge.status === 0, `huge body: ${huge.status}`);
    const garbage = await post('/bcl', 'logout_token=not.a.jwt');
    assert.equal(garbage.status, 400);
    assert.ok(logs.some((l) => l['event'] === 'identity.logout_rejected' && l['reason'] === 'logout_token is not a JWT'));
  });
});

describe('a logout passed between processes and hosts', () => {
  test('is acted on only with an issuer, a jti and a sid or sub', () => {
    const ok = { issuer: 'https://idp.example', jti: 'j1', sid: 's1', sub: null };
    assert.deepEqual(parseIdentityLogout(ok), { issuer: 'https://idp.example', jti: 'j1', sid: 's1', sub: undefined });
    assert.deepEqual(parseIdentityLogout(JSON.parse(JSON.stringify({ issuer: 'i', jti: 'j', sid: undefined, sub: 'alice' }))), { issuer: 'i', jti: 'j', sid: undefined, sub: 'alice' });
    for (const bad of [undefined, 'x', { ...ok, issuer: '' }, { ...ok, jti: 5 }, { ...ok, sid: null }, { ...ok, sid: ['s1'] }]) {
      assert.equal(parseIdentityLogout(bad), undefined, JSON.stringify(bad));
    }
  });
});
