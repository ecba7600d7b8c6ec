import { isIP, isIPv6 } from 'node:net';

// Parses the SSH user name the client sent into SPS inband data (spec 7.1-7.4):
//   [key=value@]...<server user>[@<target>[:port]]
// The target is everything after the last '@' (so UPN users need an explicit target), '%' may stand in for
// that '@', and ':', '+' or '/' separate the port; IPv6 targets go in brackets. The function is pure and
// never throws: malformed input comes back as a message that is safe to show to the user and to log.
// Pair values may be pre-answered secrets (otp=...), so a message never repeats a pair, and a '=' after the
// pairs (reluser@otp=SECRET@db01, @otp=SECRET@db01, root@db01:otp=SECRET) makes the whole name invalid
// rather than part of a user or server name that would be logged and recorded. Echoed fragments are bounded.

export interface TargetSpec {
  /** Host name, IPv4 address or IPv6 address (without brackets) exactly as the user named it. */
  readonly host: string;
  readonly port: number | undefined;
}

export interface LoginRequest {
  readonly serverUser: string;
  readonly target: TargetSpec | undefined;
  /**
   * key=value pairs from the user name; later duplicates win (spec 11.21). `gu=` (inband gateway user) stays a
   * pair: Gatehouse has no gateway login of its own to verify it, so plugins read it from here, as the SDK does.
   */
  readonly pairs: Readonly<Record<string, string>>;
}

export type ParseResult = { ok: true; request: LoginRequest } | { ok: false; message: string };

const MAX_LENGTH = 2048;
const PAIR = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Longest piece of user input a message repeats. */
const ECHO_MAX = 64;
const MISPLACED_PAIR = 'Invalid user name: key=value pairs go first, before the user name (key=value@user@server).';

export function parseUsername(raw: string): ParseResult {
  const fail = (message: string): ParseResult => ({ ok: false, message });
  if (raw.length === 0) return fail('Empty user name. Connect as user@server.');
  if (raw.length > MAX_LENGTH) return fail(`User name longer than ${MAX_LENGTH} characters.`);
  if (CONTROL.test(raw)) return fail('The user name contains control characters.');

  const tokens = raw.split('@');
  const pairs: Record<string, string> = {};
  let first = 0;
  while (first < tokens.length) {
    const m = PAIR.exec(tokens[first]!);
    if (!m) break;
    pairs[m[1]!] = m[2]!;
    first++;
  }
  const rest = tokens.slice(first);
  // Messages never repeat the pairs: they may hold pre-answered secrets, and messages are logged.
  if (rest.length === 0) return fail('No user name: key=value pairs must be followed by a user name.');
  if (rest.some((token) => token.includes('='))) return fail(MISPLACED_PAIR);

  let userPart: string;
  let targetPart: string | undefined;
  const last = rest[rest.length - 1]!;
  const pct = lastPercentOutsideBrackets(last);
  if (pct >= 0) {
    userPart = [...rest.slice(0, -1), last.slice(0, pct)].join('@');
    targetPart = last.slice(pct + 1);
  } else if (rest.length >= 2) {
    userPart = rest.slice(0, -1).join('@');
    targetPart = last;
  } else {
    userPart = last;
  }

  if (userPart.length === 0) return fail('No user name before the server name.');
  if (userPart.split('@').some((part) => part.length === 0)) return fail(`Invalid user name "${echo(userPart)}".`);

  let target: TargetSpec | undefined;
  if (targetPart !== undefined) {
    const parsed = parseTarget(targetPart);
    if (typeof parsed === 'string') return fail(parsed);
    target = parsed;
  }

  return { ok: true, request: { serverUser: userPart, target, pairs } };
}

/** Parses `host`, `host:port`, `host+port`, `host/port`, `[v6]`, `[v6]:port`. Returns a message on error. */
export function parseTarget(spec: string): TargetSpec | string {
  if (spec.length === 0) return 'No server named after the last "@". Connect as user@server.';
  let host: string;
  let portText: string | undefined;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0) return `Missing "]" in server "${echo(spec)}".`;
    host = spec.slice(1, close);
    if (!isIPv6(host)) return `"${echo(host)}" in brackets is not an IPv6 address.`;
    const after = spec.slice(close + 1);
    if (after.length > 0) {
      if (!':+/'.includes(after[0]!)) return `Unexpected "${echo(after)}" after "]" in server "${echo(spec)}".`;
      portText = after.slice(1);
    }
  } else if (isIPv6(spec)) {
    host = spec;
  } else {
    const sep = Math.max(spec.lastIndexOf(':'), spec.lastIndexOf('+'), spec.lastIndexOf('/'));
    host = sep >= 0 ? spec.slice(0, sep) : spec;
    portText = sep >= 0 ? spec.slice(sep + 1) : undefined;
    if (host.length === 0) return `No server name in "${echo(spec)}".`;
    if (isIP(host) === 0 && !HOST_NAME.test(host)) return `Invalid server name "${echo(host)}".`;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return `Invalid port "${echo(portText)}" in server "${echo(spec)}": ports are 1-65535.`;
    }
    port = Number(portText);
  }
  return { host, port };
}

function lastPercentOutsideBrackets(token: string): number {
  const pct = token.lastIndexOf('%');
  if (pct < 0) return -1;
  // A '%' inside "[...]" would be an IPv6 zone, not a separator.
  const open = token.lastIndexOf('[', pct);
  const close = token.indexOf(']', pct);
  return open >= 0 && close > pct ? -1 : pct;
}

/** A piece of user input as a message may show it: bounded, and never anything after a '='. */
function echo(text: string): string {
  const safe = text.includes('=') ? text.slice(0, text.indexOf('=')) : text;
  return safe.length > ECHO_MAX ? `${safe.slice(0, ECHO_MAX)}...` : safe;
}
