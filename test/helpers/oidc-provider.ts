import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { SigningKey } from './logout-tokens.js';

// A real OpenID Provider (the oidc-provider package) on a loopback port, with the device flow, back-channel
// logout and one static confidential client, and a "browser" per person that approves device codes and signs
// out through the provider's own HTML pages (its development login and consent forms), as a person would.

export const PROVIDER_KID = 'test-op-1';

export interface TestAccount {
  readonly groups: readonly string[];
}

export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The provider's signing key (kid KID), for tests that sign logout tokens as the provider would. */
  readonly signingKey: () => SigningKey;
  /** Builds the provider; call once, when the back-channel logout address is known. */
  start(opts: { backchannelLogoutUri?: string }): Promise<void>;
  /** Signs `login` in (any password), enters `userCode` and consents, in that person's browser. */
  approve(userCode: string, login: string): Promise<void>;
  /** Enters `userCode` and refuses at the confirmation step. */
  refuse(userCode: string, login: string): Promise<void>;
  /** Ends `login`'s session at the provider (RP-less logout through its end_session page). */
  logout(login: string): Promise<void>;
  stop(): Promise<void>;
}

interface Form {
  readonly action: string;
  readonly fields: Record<string, string>;
}

/** The first form of a page with its fields' current values (inputs, and named buttons as pressed). */
function firstForm(html: string, base: string, formId?: string): Form {
  const forms = [...html.matchAll(/<form([^>]*)>([\s\S]*?)<\/form>/g)];
  const m = formId ? forms.find((f) => f[1]!.includes(`id="${formId}"`)) : forms[0];
  if (!m) throw new Error(`no form in page: ${html.slice(0, 400)}`);
  const action = /action="([^"]*)"/.exec(m[1]!)?.[1] ?? base;
  const fields: Record<string, string> = {};
  for (const i of m[2]!.matchAll(/<input([^>]*)>/g)) {
    const name = /name="([^"]*)"/.exec(i[1]!)?.[1];
    if (name) fields[name] = /value="([^"]*)"/.exec(i[1]!)?.[1] ?? '';
  }
  return { action: new URL(action.replace(/&amp;/g, '&'), base).href, fields };
}

/** A cookie jar and redirect follower: enough of a browser for the provider's pages. */
class Browser {
  private readonly cookies = new Map<string, string>();

  async go(url: string, form?: Record<string, string>): Promise<{ url: string; html: string; status: number }> {
    let method = form ? 'POST' : 'GET';
    let body: string | undefined = form ? new URLSearchParams(form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      const res = await fetch(url, {
        method,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        },
        ...(body ? { body } : {}),
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        const name = pair!.slice(0, eq).trim();
        const value = pair!.slice(eq + 1).trim();
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        url = new URL(location, url).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url, html: await res.text(), status: res.status };
    }
    throw new Error('too many redirects');
  }

  async submit(page: { url: string; html: string }, values: Record<string, string> = {}, formId?: string): Promise<{ url: string; html: string; status: number }> {
    const f = firstForm(page.html, page.url, formId);
    return this.go(f.action, { ...f.fields, ...values });
  }
}

export async function listenTestProvider(accounts: Readonly<Record<string, TestAccount>>): Promise<TestProvider> {
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'gatehouse';
  const clientSecret = 'gatehouse-test-secret-0123456789abcdef';
  const browsers = new Map<string, Browser>();
  let signingKey: SigningKey | undefined;
  const browser = (login: string): Browser => {
    let b = browsers.get(login);
    if (!b) browsers.set(login, (b = new Browser()));
    return b;
  };

  const enterCode = async (userCode: string, login: string) => {
    const b = browser(login);
    let page = await b.go(`${issuer}/device`);
    page = await b.submit(page, { user_code: userCode });
    // The device confirmation page first, then (once per browser) the login form.
    return { b, page };
  };

  return {
    issuer,
    clientId,
    clientSecret,
    signingKey: () => signingKey!,
    async start({ backchannelLogoutUri }) {
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      signingKey = privateKey as SigningKey;
      const jwk = { ...(await exportJWK(privateKey)), kid: PROVIDER_KID, alg: 'RS256', use: 'sig' };
      const moduleName = 'oidc-provider';
      const { default: Provider } = await import(moduleName);
      const provider = new Provider(issuer, {
        clients: [{
          client_id: clientId,
          client_secret: clientSecret,
          grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
          ...(backchannelLogoutUri ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
        }],
        jwks: { keys: [jwk] },
        cookies: { keys: ['gatehouse-test-cookie-key'] },
        features: {
          devInteractions: { enabled: true },
          deviceFlow: { enabled: true },
          backchannelLogout: { enabled: true },
          rpInitiatedLogout: { enabled: true },
        },
        claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
        // Put the profile claims into the ID token, where the device flow client reads them.
        conformIdTokenClaims: false,
        findAccount: (_ctx: unknown, id: string) => (accounts[id] ? {
          accountId: id,
          claims: () => ({ sub: id, preferred_username: id, groups: [...accounts[id]!.groups] }),
        } : undefined),
      });
      provider.on('server_error', (_ctx: unknown, err: Error) => console.error('test provider error:', err));
      handler = provider.callback();
    },
    async approve(userCode, login) {
      const { b, page: first } = await enterCode(userCode, login);
      let page = first;
      for (let step = 0; step < 6; step++) {
        if (/op\.deviceConfirmForm/.test(page.html)) page = await b.submit(page, {}, 'op.deviceConfirmForm');
        else if (/name="login"/.test(page.html)) page = await b.submit(page, { login, password: 'any' });
        else if (/name="prompt" value="consent"/.test(page.html)) page = await b.submit(page);
        else break;
      }
      if (!/Sign-in Success|success/i.test(page.html)) throw new Error(`device approval did not succeed: ${page.status} ${page.html.slice(0, 600)}`);
    },
    async refuse(userCode, login) {
      const { b, page } = await enterCode(userCode, login);
      const f = firstForm(page.html, page.url, 'op.deviceConfirmForm');
      const { confirm: _c, ...rest } = f.fields;
      await b.go(f.action, { ...rest, abort: 'yes' });
    },
    async logout(login) {
      const b = browser(login);
      const page = await b.go(`${issuer}/session/end`);
      const done = await b.submit(page, { logout: 'yes' }, 'op.logoutForm');
      if (done.status >= 400) throw new Error(`logout failed: ${done.status} ${done.html.slice(0, 400)}`);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
