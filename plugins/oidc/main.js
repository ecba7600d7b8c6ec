// Single sign-on over SSH with an OpenID Provider, through the OAuth 2.0 Device Authorization Grant (RFC 8628):
// the first authenticate call asks the provider for a user code and shows "Open URL and enter code X, then
// press Enter"; the next call (after Enter) polls the token endpoint until the user approved, refused or the
// code expired, checks the ID token and accepts with the user and groups taken from its claims.
// Each hook call runs in a fresh context, so the device code and the endpoints travel in the cookie.
// Configuration: see settings.js and the README ("The oidc plugin").
import { ProviderDown, discover, pollToken, startDeviceFlow, verifyIdToken } from './provider.js';
import { readSettings } from './settings.js';

const QUESTION_KEY = 'oidc_continue';

const MESSAGES = {
  down: 'The sign-in service cannot be reached right now; please try again later.',
  denied: 'Sign-in was refused at the identity provider.',
  expired: 'The sign-in code expired before it was approved; please connect again.',
  invalid: 'Sign-in failed: the answer of the identity provider could not be verified.',
  nouser: 'Sign-in failed: your account at the identity provider has no user name for this service.',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function prompt(flow, waiting) {
  const also = flow.verification_uri_complete ? ` (or open ${flow.verification_uri_complete})` : '';
  const lead = waiting ? 'Not approved yet. ' : '';
  return `${lead}Open ${flow.verification_uri} and enter code ${flow.user_code}${also}, then press Enter: `;
}

function deny(reason, cookie, why) {
  if (why) console.log(`oidc: login refused: ${why}`);
  return { verdict: 'DENY', reason, cookie: { ...cookie, oidc: null } };
}

function claimGroups(value) {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((g) => typeof g === 'string' && g !== '');
}

async function start(settings, cookie) {
  const endpoints = await discover(settings);
  const flow = await startDeviceFlow(settings, endpoints);
  const state = { ...flow, token_endpoint: endpoints.tokenEndpoint, jwks_uri: endpoints.jwksUri, next_poll_at: Date.now() + flow.interval * 1000 };
  return { verdict: 'NEEDINFO', question: [QUESTION_KEY, prompt(flow, false), false], cookie: { ...cookie, oidc: state } };
}

async function poll(settings, cookie) {
  const state = { ...cookie.oidc };
  const deadline = Date.now() + settings.pollMs;
  for (;;) {
    if (Date.now() >= state.expires_at) return deny(MESSAGES.expired, cookie, 'the device code expired');
    // RFC 8628 3.5: never faster than `interval`, which slow_down raises by 5 seconds.
    const wait = state.next_poll_at - Date.now();
    if (wait > 0) {
      if (Date.now() + wait >= deadline) break;
      await sleep(wait);
    }
    const r = await pollToken(settings, state.token_endpoint, state.device_code);
    state.next_poll_at = Date.now() + state.interval * 1000;
    if (r.tokens) return accept(settings, state, r.tokens, cookie);
    if (r.error === 'authorization_pending') continue;
    if (r.error === 'slow_down') {
      state.interval += 5;
      state.next_poll_at = Date.now() + state.interval * 1000;
      continue;
    }
    if (r.error === 'access_denied') return deny(MESSAGES.denied, cookie, 'the user refused at the provider');
    if (r.error === 'expired_token') return deny(MESSAGES.expired, cookie, 'the device code expired');
    return deny(MESSAGES.invalid, cookie, `token endpoint error ${r.error}`);
  }
  // Still not approved within this call's budget: ask again rather than run past the plugin timeout.
  return { verdict: 'NEEDINFO', question: [QUESTION_KEY, prompt(state, true), false], cookie: { ...cookie, oidc: state } };
}

async function accept(settings, state, tokens, cookie) {
  if (typeof tokens.id_token !== 'string') return deny(MESSAGES.invalid, cookie, 'the token response has no id_token (is "openid" in scope?)');
  let claims;
  try {
    claims = await verifyIdToken(settings, state.jwks_uri, tokens.id_token);
  } catch (err) {
    if (err instanceof ProviderDown) throw err;
    return deny(MESSAGES.invalid, cookie, `ID token rejected: ${err?.code ?? ''} ${err?.message}`);
  }
  const user = claims[settings.userClaim];
  if (typeof user !== 'string' || user === '') return deny(MESSAGES.nouser, cookie, `the ID token has no claim ${settings.userClaim}`);
  const groups = claimGroups(claims[settings.groupsClaim]);
  console.log(`oidc: accepted ${user} (sub ${claims.sub}) with groups [${groups.join(', ')}]`);
  return {
    verdict: 'ACCEPT',
    gateway_user: user,
    gateway_groups: groups,
    // Gatehouse binds the session to this identity: back-channel logout at the provider ends it.
    identity: { issuer: claims.iss, subject: claims.sub, sid: typeof claims.sid === 'string' ? claims.sid : null },
    cookie: { ...cookie, oidc: null, subject: claims.sub },
  };
}

export class Plugin {
  constructor(configuration) {
    this.configuration = configuration;
  }

  async authenticate({ cookie }) {
    const settings = readSettings(this.configuration);
    try {
      return cookie.oidc ? await poll(settings, cookie) : await start(settings, cookie);
    } catch (err) {
      if (err instanceof ProviderDown) return deny(MESSAGES.down, cookie, `provider unreachable: ${err.message}`);
      throw err;
    }
  }

  authorize() {
    return { verdict: 'ACCEPT' };
  }

  session_ended({ session_id, cookie }) {
    if (cookie.subject) console.log(`oidc: session ${session_id} of subject ${cookie.subject} ended`);
  }
}
