import type { JsonObject, JsonValue } from '../plugins/contract.js';

// The trace of one hook call (`gatehouse serve --dev`, `gatehouse plugin try`): what went in, what came back,
// both cookies before and after, and how long it took. What the user typed at a question that does not echo,
// and every answer given in the user name, is shown as *** wherever it appears (in key_value_pairs, and in a
// cookie or result a plugin copied it into); so are credentials a store hands out.

export const MASK = '***';

export interface HookTrace {
  readonly plugin: string;
  readonly hook: string;
  /** The arguments as the plugin received them (cookie and session_cookie are the values before the call). */
  readonly args: JsonObject;
  readonly outcome: { readonly ok: true; readonly result: JsonValue } | { readonly ok: false; readonly code: string; readonly message: string };
  readonly cookieAfter: JsonObject;
  readonly sessionCookieAfter: JsonObject;
  readonly ms: number;
}

export type TraceSink = (t: HookTrace) => void;

/** A HookTrace as it may be shown: every secret replaced by ***. */
export interface ShownTrace {
  readonly plugin: string;
  readonly hook: string;
  readonly args: JsonObject;
  readonly result?: JsonValue;
  readonly error?: { code: string; message: string };
  readonly cookie: { before: JsonValue; after: JsonValue };
  readonly session_cookie: { before: JsonValue; after: JsonValue };
  readonly ms: number;
}

/** Below this length a secret is only masked where a whole value equals it (a one-digit answer is not hunted down in every number). */
const SUBSTRING_MIN = 4;

/** What a session's users answered, to tell which values a trace may show. */
export class AnswerMask {
  private readonly secrets = new Set<string>();
  /** Keys whose current answer was typed at a question that echoes: shown as typed. */
  private readonly echoed = new Map<string, string>();

  /** An answer to a no-echo question, or given in the user name. */
  secret(value: string): void {
    if (value !== '') this.secrets.add(value);
  }

  /** An answer typed at a question that echoes: the trace may show it under its key. */
  shown(key: string, value: string): void {
    this.echoed.set(key, value);
  }

  show(t: HookTrace): ShownTrace {
    const args = this.scrub(t.args) as JsonObject;
    const kv = t.args['key_value_pairs'];
    if (kv && typeof kv === 'object' && !Array.isArray(kv)) {
      args['key_value_pairs'] = Object.fromEntries(Object.entries(kv).map(([k, v]) =>
        [k, typeof v === 'string' && this.echoed.get(k) === v && !this.secrets.has(v) ? v : MASK]));
    }
    if (typeof args['gateway_password'] === 'string' && args['gateway_password'] !== '') args['gateway_password'] = MASK;
    // The cookies are shown before and after, below.
    const { cookie: _cookie, session_cookie: _sessionCookie, ...rest } = args;
    return {
      plugin: t.plugin,
      hook: t.hook,
      args: rest,
      ...(t.outcome.ok ? { result: this.scrub(credentialsMasked(t.outcome.result)) } : { error: { code: t.outcome.code, message: this.scrubText(t.outcome.message) } }),
      cookie: { before: this.scrub(t.args['cookie'] ?? {}), after: this.scrub(t.cookieAfter) },
      session_cookie: { before: this.scrub(t.args['session_cookie'] ?? {}), after: this.scrub(t.sessionCookieAfter) },
      ms: t.ms,
    };
  }

  private scrubText(s: string): string {
    if (this.secrets.has(s)) return MASK;
    let out = s;
    for (const secret of this.secrets) if (secret.length >= SUBSTRING_MIN) out = out.split(secret).join(MASK);
    return out;
  }

  private scrub(v: JsonValue): JsonValue {
    if (typeof v === 'string') return this.scrubText(v);
    if (Array.isArray(v)) return v.map((x) => this.scrub(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.scrub(x)]));
    return v;
  }
}

/** A credential store's passwords and private keys, never shown. */
function credentialsMasked(result: JsonValue): JsonValue {
  if (!result || typeof result !== 'object' || Array.isArray(result)) return result;
  const out: JsonObject = { ...result };
  if (Array.isArray(out['passwords'])) out['passwords'] = out['passwords'].map(() => MASK);
  if (Array.isArray(out['private_keys'])) {
    out['private_keys'] = out['private_keys'].map((k) => (Array.isArray(k) ? [k[0] ?? null, MASK] : MASK));
  }
  return out;
}

/** One line for a person: the verdict or the error, and the time. */
export function traceSummary(t: ShownTrace): string {
  if (t.error) return `${t.plugin}.${t.hook} failed: ${t.error.code} (${t.ms} ms)`;
  const r = t.result;
  const verdict = r && typeof r === 'object' && !Array.isArray(r) && typeof r['verdict'] === 'string' ? r['verdict'] : r === null ? 'None' : 'returned';
  return `${t.plugin}.${t.hook} -> ${verdict} (${t.ms} ms)`;
}
