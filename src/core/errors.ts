// Every failure Gatehouse reports carries a stable code, a message for the administrator (logs) and a
// message that is safe to show to the ssh user. Only `userMessage` ever reaches the SSH client.

export type ErrorCode =
  // configuration and start-up
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'HOST_KEY_INSECURE'
  | 'HOST_KEY_INVALID'
  | 'CRYPTO_BINDING_MISSING'
  | 'SSH2_INTERNALS_CHANGED'
  | 'CONTROL_SOCKET_IN_USE'
  | 'LISTEN_FAILED'
  | 'STARTUP_FAILED'
  // workers (config workers: N)
  | 'WORKER_START_FAILED'
  | 'RELOAD_FAILED'
  | 'WORKER_CRASHED'
  // plugins: loading
  | 'MANIFEST_INVALID'
  | 'PLUGIN_LOAD_FAILED'
  // plugins: calls (a failure is never a yes)
  | 'PLUGIN_TIMEOUT'
  | 'PLUGIN_THREW'
  | 'PLUGIN_CRASHED'
  | 'PLUGIN_BAD_RESULT'
  | 'PLUGIN_HOOK_MISSING'
  | 'PLUGIN_MEMORY_LIMIT'
  | 'PLUGIN_OUTPUT_LIMIT'
  | 'PLUGIN_PROMPT_TOO_LARGE'
  // login
  | 'USERNAME_INVALID'
  | 'NO_TARGET'
  | 'TARGET_NOT_ALLOWED'
  | 'DENIED_BY_PLUGIN'
  | 'NOT_AUTHENTICATED'
  | 'USERMAP_DENIED'
  | 'NEEDINFO_LIMIT'
  | 'LOGIN_TIMEOUT'
  | 'TOO_MANY_AUTH_FAILURES'
  | 'CLIENT_GONE'
  // session
  | 'CLIENT_TIMEOUT'
  | 'IDLE_TIMEOUT'
  | 'TERMINATED'
  | 'IDP_LOGOUT'
  | 'SESSION_LIMIT'
  /** workers: N without a database: the primary did not decide the session limits in time (fail closed). */
  | 'LIMITS_UNAVAILABLE'
  // the connection database
  | 'STORE_SCHEMA_NEWER'
  | 'STORE_UNAVAILABLE'
  // target
  | 'TARGET_RESOLVE_FAILED'
  | 'TARGET_UNREACHABLE'
  | 'TARGET_HOSTKEY_UNKNOWN'
  | 'TARGET_HOSTKEY_MISMATCH'
  | 'TARGET_HOSTKEY_REVOKED'
  | 'TARGET_AUTH_FAILED'
  | 'TARGET_CREDENTIALS_MISSING'
  | 'TARGET_TIMEOUT'
  | 'TARGET_CLOSED'
  // lifecycle
  | 'SHUTDOWN'
  // anything not foreseen (a bug, or the system out of a resource such as file descriptors)
  | 'INTERNAL';

const DEFAULT_USER_MESSAGE: Partial<Record<ErrorCode, string>> = {
  PLUGIN_TIMEOUT: 'Access denied: the authentication service did not answer in time.',
  PLUGIN_THREW: 'Access denied: the authentication service failed.',
  PLUGIN_CRASHED: 'Access denied: the authentication service failed.',
  PLUGIN_BAD_RESULT: 'Access denied: the authentication service failed.',
  PLUGIN_HOOK_MISSING: 'Access denied: the authentication service failed.',
  PLUGIN_MEMORY_LIMIT: 'Access denied: the authentication service failed.',
  PLUGIN_OUTPUT_LIMIT: 'Access denied: the authentication service failed.',
  PLUGIN_PROMPT_TOO_LARGE: 'Access denied: the authentication service failed.',
  DENIED_BY_PLUGIN: 'Access denied.',
  NOT_AUTHENTICATED: 'Access denied.',
  NEEDINFO_LIMIT: 'Access denied: too many questions.',
  LOGIN_TIMEOUT: 'Login timed out.',
  SHUTDOWN: 'Gatehouse is shutting down.',
  INTERNAL: 'Gatehouse could not complete the login; please try again later.',
};

const GENERIC_USER_MESSAGE = 'Access denied.';

export class BastionError extends Error {
  readonly code: ErrorCode;
  readonly userMessage: string;

  constructor(code: ErrorCode, adminMessage: string, opts: { userMessage?: string; cause?: unknown } = {}) {
    super(adminMessage, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BastionError';
    this.code = code;
    this.userMessage = opts.userMessage ?? DEFAULT_USER_MESSAGE[code] ?? GENERIC_USER_MESSAGE;
  }
}

/** Wraps anything thrown into a BastionError without ever exposing its text to the user. */
export function asBastionError(err: unknown, fallback: ErrorCode): BastionError {
  if (err instanceof BastionError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BastionError(fallback, message, { cause: err });
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
