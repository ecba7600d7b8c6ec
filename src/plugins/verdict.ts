import type { JsonObject, JsonValue } from './contract.js';

// Checks what `authenticate` / `authorize` returned (spec 5.5-5.9, 11.3-11.6, 11.11, 11.14) and turns the
// SPS dict into a camelCase value. Pure: anything that is not a valid result is reported, never guessed at.

export interface Question {
  readonly key: string;
  readonly prompt: string;
  readonly noEcho: boolean;
}

export interface ResultCommon {
  /** New plugin cookie; undefined keeps the previous one (spec 11.14). */
  readonly cookie: JsonObject | undefined;
  readonly sessionCookie: JsonObject | undefined;
  readonly additionalMetadata: string | undefined;
  readonly reason: string | undefined;
  /** Things the plugin got wrong that did not invalidate the result (logged). */
  readonly warnings: readonly string[];
}

/**
 * Who the user is at an identity provider (result key `identity` of an authenticate ACCEPT): the session is
 * bound to it, so that a logout at that provider (back-channel logout, src/identity/) ends the session.
 */
export interface PluginIdentity {
  readonly issuer: string;
  readonly subject: string;
  /** The provider's session id (`sid`), when it has one. */
  readonly sid: string | undefined;
}

export type Verdict =
  | (ResultCommon & {
    readonly verdict: 'ACCEPT';
    readonly gateway: { user: string; groups: string[] } | undefined;
    readonly identity: PluginIdentity | undefined;
  })
  | (ResultCommon & { readonly verdict: 'DENY' })
  | (ResultCommon & { readonly verdict: 'NEEDINFO'; readonly question: Question })
  | (ResultCommon & { readonly verdict: 'NONE' });

export type VerdictCheck = { ok: true; verdict: Verdict } | { ok: false; message: string };

const NONE_RESULT: Verdict = {
  verdict: 'NONE',
  cookie: undefined,
  sessionCookie: undefined,
  additionalMetadata: undefined,
  reason: undefined,
  warnings: [],
};

export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkVerdict(hook: 'authenticate' | 'authorize', raw: JsonValue): VerdictCheck {
  const bad = (message: string): VerdictCheck => ({ ok: false, message: `${hook} ${message}` });
  if (raw === null) {
    // spec 5.6: None from authenticate means "no gateway authentication by this plugin".
    return hook === 'authenticate' ? { ok: true, verdict: NONE_RESULT } : bad('returned None instead of a dict');
  }
  if (!isPlainObject(raw)) return bad(`returned ${describe(raw)} instead of a dict`);

  const allowed = hook === 'authenticate' ? ['ACCEPT', 'DENY', 'NEEDINFO', 'NONE'] : ['ACCEPT', 'DENY', 'NEEDINFO'];
  const verdict = raw['verdict'];
  if (verdict === undefined) return bad('returned no "verdict"');
  if (typeof verdict !== 'string' || !allowed.includes(verdict)) {
    return bad(`returned verdict ${JSON.stringify(verdict)}; expected one of ${allowed.join(', ')}`);
  }

  const warnings: string[] = [];
  const cookie = optionalDict(raw, 'cookie');
  if (typeof cookie === 'string') return bad(cookie);
  const sessionCookie = optionalDict(raw, 'session_cookie');
  if (typeof sessionCookie === 'string') return bad(sessionCookie);

  let additionalMetadata: string | undefined;
  const meta = raw['additional_metadata'];
  if (typeof meta === 'string') additionalMetadata = meta;
  else if (meta !== undefined && meta !== null) additionalMetadata = JSON.stringify(meta); // as the SDK does

  const reasonRaw = raw['reason'];
  const reason = typeof reasonRaw === 'string' && reasonRaw.trim() !== '' ? reasonRaw : undefined;
  if (reasonRaw !== undefined && reasonRaw !== null && typeof reasonRaw !== 'string') {
    warnings.push('"reason" is not a string; ignored');
  }

  const common = { cookie, sessionCookie, additionalMetadata, reason, warnings };
  switch (verdict) {
    case 'ACCEPT':
      return { ok: true, verdict: { ...common, verdict, gateway: gatewayIdentity(raw, hook, warnings), identity: providerIdentity(raw, hook, warnings) } };
    case 'DENY':
    case 'NONE':
      return { ok: true, verdict: { ...common, verdict } };
    case 'NEEDINFO': {
      const question = checkQuestion(raw['question']);
      if (typeof question === 'string') return bad(question);
      return { ok: true, verdict: { ...common, verdict, question } };
    }
    default:
      return bad(`returned verdict ${JSON.stringify(verdict)}`);
  }
}

/** `(key, prompt)` or `(key, prompt, no_echo)`; tuples arrive as JSON arrays (spec 5.8). */
export function checkQuestion(q: JsonValue | undefined): Question | string {
  if (!Array.isArray(q)) return `returned NEEDINFO without a "question" [key, prompt, no_echo?] (got ${describe(q)})`;
  if (q.length < 2 || q.length > 3) return `returned a question with ${q.length} elements; expected 2 or 3`;
  const [key, prompt, noEcho] = q;
  if (typeof key !== 'string' || key.length === 0) return 'returned a question whose key is not a non-empty string';
  if (typeof prompt !== 'string') return 'returned a question whose prompt is not a string';
  // Python truthiness, as SPS evaluates the third element.
  const truthy = noEcho !== undefined && noEcho !== null && noEcho !== false && noEcho !== 0 && noEcho !== '' &&
    !(Array.isArray(noEcho) && noEcho.length === 0) && !(isPlainObject(noEcho) && Object.keys(noEcho).length === 0);
  return { key, prompt, noEcho: truthy };
}

function gatewayIdentity(raw: JsonObject, hook: string, warnings: string[]): { user: string; groups: string[] } | undefined {
  const user = raw['gateway_user'];
  const groups = raw['gateway_groups'];
  if (user === undefined && groups === undefined) return undefined;
  if (hook !== 'authenticate') {
    warnings.push('gateway_user/gateway_groups are only honoured from authenticate; ignored');
    return undefined;
  }
  // spec 5.9 / 11.11: only both together update the gateway identity.
  if (typeof user !== 'string' || user === '' || !Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
    warnings.push('gateway_user and gateway_groups must come together (a string and a list of strings); identity not updated');
    return undefined;
  }
  return { user, groups: groups as string[] };
}

function providerIdentity(raw: JsonObject, hook: string, warnings: string[]): PluginIdentity | undefined {
  const v = raw['identity'];
  if (v === undefined || v === null) return undefined;
  if (hook !== 'authenticate') {
    warnings.push('"identity" is only honoured from authenticate; ignored');
    return undefined;
  }
  const nonEmpty = (x: unknown): x is string => typeof x === 'string' && x !== '';
  if (!isPlainObject(v) || !nonEmpty(v['issuer']) || !nonEmpty(v['subject']) ||
    (v['sid'] !== undefined && v['sid'] !== null && !nonEmpty(v['sid']))) {
    warnings.push('"identity" must be {issuer, subject, sid}: non-empty strings, sid optional; the session is not bound to an identity');
    return undefined;
  }
  return { issuer: v['issuer'], subject: v['subject'], sid: nonEmpty(v['sid']) ? v['sid'] : undefined };
}

function optionalDict(raw: JsonObject, key: string): JsonObject | undefined | string {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) return `returned a "${key}" that is ${describe(v)}, not a dict`;
  return v;
}

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}
