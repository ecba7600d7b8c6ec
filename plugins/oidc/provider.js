// The OpenID Provider as seen over HTTP: discovery, the device authorization request, one token poll and the
// ID token check. Every request has a deadline; a provider that cannot be reached becomes a ProviderDown error,
// so that the user reads one plain sentence instead of a stack trace.
import { createRemoteJWKSet, jwtVerify } from 'jose';

export class ProviderDown extends Error {}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function request(url, init, settings) {
  let res;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(settings.httpMs), redirect: 'error' });
  } catch (err) {
    throw new ProviderDown(`${url}: ${err?.cause?.code ?? err?.name ?? 'error'}: ${err?.cause?.message ?? err?.message}`);
  }
  if (res.status >= 500) throw new ProviderDown(`${url}: HTTP ${res.status}`);
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ProviderDown(`${url}: HTTP ${res.status} with a body that is not JSON`);
  }
  return { status: res.status, body };
}

/** RFC 6749 2.3.1: client_secret_basic with form-encoded id and secret; a public client sends its id only. */
function clientAuth(settings, params) {
  if (settings.clientSecret === undefined) {
    params.set('client_id', settings.clientId);
    return {};
  }
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  const basic = Buffer.from(`${enc(settings.clientId)}:${enc(settings.clientSecret)}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}

function form(url, params, settings) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...clientAuth(settings, params) };
  return request(url, { method: 'POST', headers, body: params.toString() }, settings);
}

export async function discover(settings) {
  const url = `${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const { status, body } = await request(url, { headers: { accept: 'application/json' } }, settings);
  if (status !== 200) throw new ProviderDown(`${url}: HTTP ${status}`);
  // OpenID Connect Discovery 4.3: the issuer in the document must be exactly the configured one.
  if (body.issuer !== settings.issuer) throw new Error(`discovery at ${url} names issuer ${JSON.stringify(body.issuer)}, not ${settings.issuer}`);
  for (const k of ['device_authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
    if (typeof body[k] !== 'string') throw new Error(`the provider ${settings.issuer} does not publish ${k}; is the device flow enabled?`);
  }
  return { deviceEndpoint: body.device_authorization_endpoint, tokenEndpoint: body.token_endpoint, jwksUri: body.jwks_uri };
}

/** RFC 8628 3.1-3.2. */
export async function startDeviceFlow(settings, endpoints) {
  const { status, body } = await form(endpoints.deviceEndpoint, new URLSearchParams({ scope: settings.scope }), settings);
  if (status !== 200 || typeof body.device_code !== 'string' || typeof body.user_code !== 'string') {
    throw new Error(`device authorization refused: HTTP ${status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  }
  return {
    device_code: body.device_code,
    user_code: body.user_code,
    verification_uri: body.verification_uri,
    verification_uri_complete: typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : null,
    expires_at: Date.now() + (Number(body.expires_in) || 600) * 1000,
    interval: Number(body.interval) || 5,
  };
}

/** RFC 8628 3.4-3.5: one token request; returns the tokens or the error code. */
export async function pollToken(settings, tokenEndpoint, deviceCode) {
  const { status, body } = await form(tokenEndpoint, new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode }), settings);
  if (status === 200) return { tokens: body };
  return { error: typeof body.error === 'string' ? body.error : `http_${status}` };
}

/** Signature against the provider's JWKS, issuer, audience (our client id), expiry. */
export async function verifyIdToken(settings, jwksUri, idToken) {
  const jwks = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: settings.httpMs });
  let payload;
  try {
    ({ payload } = await jwtVerify(idToken, jwks, { issuer: settings.issuer, audience: settings.clientId, clockTolerance: 30 }));
  } catch (err) {
    // Keys that cannot be fetched mean the provider is down, not that the token is bad.
    if (err?.code === 'ERR_JWKS_TIMEOUT' || (err instanceof TypeError && err.cause)) {
      throw new ProviderDown(`${jwksUri}: ${err.cause?.code ?? err.code}: ${err.cause?.message ?? err.message}`);
    }
    throw err;
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('the ID token has no sub');
  // OpenID Connect Core 3.1.3.7: with several audiences, azp must name us.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== settings.clientId) throw new Error('the ID token azp is not our client id');
  return payload;
}
