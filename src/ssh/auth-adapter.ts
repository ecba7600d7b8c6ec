import type { AuthContext, KeyboardAuthContext, Connection } from 'ssh2';
import { asBastionError, BastionError } from '../core/errors.js';
import type { LoginGrant } from '../session/grant.js';
import { runLogin, type Prompter } from '../session/login.js';
import type { Session } from '../session/session.js';
import { disconnectWith, NO_MORE_AUTH_METHODS, sendBanner } from '../ssh2x/protocol-extras.js';

// Connects ssh2's authentication requests to the session's login flow. The flow runs once per connection and
// asks questions through `Prompter`; this adapter answers them from whatever the client offers:
// - keyboard-interactive: each question is one prompt (echo off for no-echo questions), and the whole NEEDINFO
//   loop stays inside one keyboard-interactive exchange (ssh2 contexts are multi-step);
// - password: the password answers the first question; a further question is shown as a banner and answered
//   by the client's next password attempt, so password-only clients can still get through.
// When the flow ends, the outstanding request is accepted, or the connection is ended with the reason as the
// disconnect message (OpenSSH prints it; a plain auth failure would send OpenSSH on to other methods).
// Failed answers (a method Gatehouse does not take, a target password refused, a denied login) are counted
// as sshd's MaxAuthTries counts them, and each is answered only after a delay that grows with the count, so
// guessing within one connection is slow; a denied login also earns its source a penalty (penalties.ts).

/** Denials that answer a guess (wrong answer, forbidden name): delayed, and penalised at the source. */
const FAILED_LOGIN = new Set(['DENIED_BY_PLUGIN', 'NOT_AUTHENTICATED', 'USERMAP_DENIED', 'TARGET_AUTH_FAILED', 'TARGET_NOT_ALLOWED',
  'NO_TARGET', 'USERNAME_INVALID', 'TOO_MANY_AUTH_FAILURES']);

export interface AuthLimits {
  readonly maxAuthTries: number;
  readonly failureDelayMs: number;
  /** Called once when the login is refused for a reason in FAILED_LOGIN. */
  readonly onFailedLogin: () => void;
}

const METHODS: ('keyboard-interactive' | 'password')[] = ['keyboard-interactive', 'password'];

interface PendingQuestion {
  readonly prompt: string;
  readonly echo: boolean;
  readonly resolve: (answer: string) => void;
  readonly reject: (err: BastionError) => void;
}

export class AuthAdapter implements Prompter {
  private started = false;
  private ctx: AuthContext | undefined;
  private prompted = false;
  private spare: string | undefined;
  private pending: PendingQuestion | undefined;
  private outcome: { ok: true; grant: LoginGrant } | { ok: false; error: BastionError } | undefined;
  private failures = 0;
  private refusing = false;

  constructor(
    private readonly session: Session,
    private readonly conn: Connection,
    private readonly limits: AuthLimits,
    private readonly onAccepted: (grant: LoginGrant) => void,
  ) {
    session.onClose(() => {
      this.pending?.reject(new BastionError('CLIENT_GONE', 'session closed while a question was pending'));
      this.pending = undefined;
      // A target login that finished but was never handed to the session must not stay open.
      if (this.outcome?.ok && this.session.upstream !== this.outcome.grant.upstream) this.outcome.grant.upstream.end();
    });
  }

  handle(ctx: AuthContext): void {
    // A new request supersedes the one before it (ssh2 aborts an unfinished keyboard-interactive exchange):
    // never prompt on, accept or refuse a request the client has moved on from.
    this.ctx = undefined;
    this.prompted = false;
    if (this.session.closed) {
      ctx.reject([]);
      return;
    }
    if (ctx.method !== 'keyboard-interactive' && ctx.method !== 'password') {
      // "none" asks which methods there are; any other method is a failed attempt (a key Gatehouse does not
      // take), counted as sshd counts it but answered at once: clients such as paramiko try every key they have
      // before the password, and there is no secret to guess here.
      if (ctx.method === 'none') return void ctx.reject(METHODS);
      void this.failed(`${ctx.method} authentication is not accepted`, false).then(() => ctx.reject(METHODS), (err: BastionError) => this.fail(err));
      return;
    }
    this.session.log.debug({ event: 'auth.request', method: ctx.method }, 'authentication request');
    this.ctx = ctx;
    this.prompted = false;
    this.spare = ctx.method === 'password' ? ctx.password : undefined;
    if (!this.started) {
      this.started = true;
      void this.run(ctx.username);
    }
    this.serve();
  }

  ask(prompt: string, echo: boolean): Promise<string> {
    if (this.session.closed) return Promise.reject(new BastionError('CLIENT_GONE', 'session already closed'));
    return new Promise((resolve, reject) => {
      this.pending = { prompt, echo, resolve, reject };
      this.serve();
    });
  }

  /**
   * Counts a failed attempt and waits the failure delay (longer with each failure); rejects with
   * TOO_MANY_AUTH_FAILURES when the connection has used up its tries.
   */
  async failed(why: string, wait = true): Promise<void> {
    this.failures++;
    this.session.log.info({ event: 'auth.failure', failures: this.failures, max: this.limits.maxAuthTries, why }, 'failed authentication attempt');
    if (this.failures >= this.limits.maxAuthTries) {
      throw new BastionError('TOO_MANY_AUTH_FAILURES', `${this.failures} failed attempts (limits.max_auth_tries ${this.limits.maxAuthTries})`,
        { userMessage: 'Too many authentication failures' });
    }
    if (wait) await delay(this.limits.failureDelayMs * this.failures);
  }

  private fail(error: BastionError): void {
    this.outcome ??= { ok: false, error };
    this.serve();
  }

  private async run(username: string): Promise<void> {
    try {
      const grant = await runLogin(this.session, username, this);
      if (this.session.closed) {
        grant.upstream.end();
        return;
      }
      this.outcome = { ok: true, grant };
    } catch (err) {
      if (!(err instanceof BastionError)) this.session.log.error({ event: 'login.internal_error', err }, 'unexpected error during login');
      this.outcome = { ok: false, error: asBastionError(err, 'INTERNAL') };
    }
    this.serve();
  }

  /** Moves the exchange forward with whatever is outstanding: an outcome, a question, or nothing yet. */
  private serve(): void {
    const ctx = this.ctx;
    if (this.outcome) {
      if (this.outcome.ok) {
        if (!ctx) return; // accepted on the client's next request
        this.ctx = undefined;
        this.onAccepted(this.outcome.grant);
        ctx.accept();
      } else {
        this.refuse(this.outcome.error);
      }
      return;
    }
    const q = this.pending;
    if (!q || !ctx) return;
    if (ctx.method === 'password') {
      if (this.spare !== undefined) {
        const answer = this.spare;
        this.spare = undefined;
        this.pending = undefined;
        q.resolve(answer);
      } else {
        // Password clients cannot show a prompt of ours: show it as a banner; the next attempt answers it.
        sendBanner(this.conn, q.prompt);
        this.ctx = undefined;
        ctx.reject(METHODS);
      }
      return;
    }
    if (ctx.method === 'keyboard-interactive' && !this.prompted) {
      this.prompted = true;
      (ctx as KeyboardAuthContext).prompt([{ prompt: q.prompt, echo: q.echo }], '', '', (answers: string[] | Error) => {
        if (answers instanceof Error) {
          // The client started a new request; the question is asked again on it.
          if (this.ctx === ctx) this.ctx = undefined;
          return;
        }
        this.prompted = false;
        if (this.pending === q) this.pending = undefined;
        q.resolve(answers[0] ?? '');
      });
    }
  }

  private refuse(error: BastionError): void {
    const s = this.session;
    if (s.closed || this.refusing) return;
    this.refusing = true;
    this.ctx = undefined;
    const failedLogin = FAILED_LOGIN.has(error.code);
    if (failedLogin) this.limits.onFailedLogin();
    // A guess is answered no sooner than a failed attempt within the connection would be.
    const wait = failedLogin && error.code !== 'TOO_MANY_AUTH_FAILURES' ? this.limits.failureDelayMs * (this.failures + 1) : 0;
    void delay(wait).then(() => {
      if (s.closed) return;
      s.log.info({ event: 'auth.deny', code: error.code, detail: error.message }, 'login refused');
      // With --dev the plugin author reads, in the ssh client, the code and what went wrong as well.
      const said = s.runtime.dev ? `${error.userMessage} [${error.code}: ${error.message.split('\n')[0]}]` : error.userMessage;
      disconnectWith(this.conn, NO_MORE_AUTH_METHODS, said);
      void s.close('denied', error);
    });
  }
}

function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}
