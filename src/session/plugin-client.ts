import type { Logger } from 'pino';
import { settleWithin } from '../core/deadline.js';
import { BastionError } from '../core/errors.js';
import type { HookName, JsonObject, JsonValue } from '../plugins/contract.js';
import type { PluginHandle } from '../plugins/plugin-host.js';
import type { CallOptions, HookOutcome } from '../plugins/runner.js';
import type { TraceSink } from './hook-trace.js';

// One session's view of one plugin: calls its hooks with the cookies of spec 4 and keeps them. Each plugin
// has its own cookie; session_cookie is shared by every plugin of the session (last writer wins). A hook that
// fails (throws, times out, returns garbage) changes no cookie, so session_ended sees the last good ones
// (spec 3.2, 11.10). Failures come back as BastionErrors with the plugin's code; they are never a verdict.

export interface SharedSessionState {
  readonly id: string;
  /** Once true, no further decision hook runs: the session is over (only session_ended follows). */
  readonly closed: boolean;
  readonly log: Logger;
  sessionCookie: JsonObject;
  /** A hook's verdict (or failure code) and how long it took, for the connection database. */
  noteVerdict(hook: string, verdict: string, ms: number): void;
  /** An AA plugin's additional_metadata, for the connection database. */
  noteMetadata(value: string): void;
  /** Receives every hook call in full (`--dev`, `plugin try`); absent: calls are only logged in brief. */
  readonly trace?: TraceSink | undefined;
}

export type Checked<T> = { ok: true; value: T; cookie: JsonObject | undefined; sessionCookie: JsonObject | undefined } | { ok: false; message: string; code?: BastionError['code'] };

export class PluginClient {
  private cookie: JsonObject = {};
  private used = false;
  /** The hook call under way, if any: session_ended waits for it so that it sees that call's cookie. */
  private inflight: Promise<unknown> | undefined;

  constructor(
    protected readonly plugin: PluginHandle,
    private readonly configuration: string,
    protected readonly session: SharedSessionState,
    private readonly timeoutMs: number,
  ) {}

  get name(): string {
    return this.plugin.manifest.name;
  }

  /** Whether any hook was called, i.e. the plugin took part in this session and is owed session_ended. */
  get tookPart(): boolean {
    return this.used;
  }

  has(hook: HookName): boolean {
    return this.plugin.has(hook);
  }

  /**
   * Runs session_ended (a hook still under way is waited for first, so that session_ended sees its cookie);
   * never throws: its result is ignored, its failure only logged. It is never lost to a busy pool: it goes
   * before the calls of new logins, may wait for a runner for plugin_pool.session_ended_wait on top of its own
   * run time, and is tried again while the hook has not reached the plugin. `withinMs` (shutdown) bounds all
   * of it instead.
   */
  async sessionEnded(withinMs?: number): Promise<void> {
    const started = Date.now();
    const runMs = withinMs ?? this.timeoutMs;
    const deadline = started + (withinMs ?? this.timeoutMs + this.plugin.bounds.sessionEndedWaitMs);
    if (this.inflight) {
      await settleWithin(this.inflight, runMs, undefined);
    }
    if (!this.plugin.has('session_ended')) {
      this.session.log.warn({ event: 'hook.skipped', plugin: this.name, hook: 'session_ended' }, 'plugin has no session_ended');
      return;
    }
    for (let attempt = 1, pause = 50; ; attempt++, pause = Math.min(pause * 2, 1000)) {
      const left = Math.max(deadline - Date.now(), 1);
      // At shutdown the wait for a runner counts against the one deadline, as everything else does.
      const outcome = await this.notify('session_ended', Math.min(runMs, left), withinMs === undefined ? { priority: true, queueMs: left } : { priority: true });
      if (outcome.ok || !outcome.notRun) return;
      if (deadline - Date.now() <= pause) {
        this.session.log.error({
          event: 'hook.session_ended_lost', plugin: this.name, code: outcome.code, attempts: attempt, ms: Date.now() - started, detail: outcome.message,
        }, 'session_ended could not be delivered to the plugin within its deadline');
        return;
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /** Calls a hook whose result does not matter (session_ended, authentication_completed); never throws. */
  protected async notify(hook: HookName, timeoutMs = this.timeoutMs, opts?: CallOptions): Promise<HookOutcome> {
    const args = this.args({});
    const call = this.plugin.call(hook, this.configuration, args, this.session.id, timeoutMs, opts);
    if (hook !== 'session_ended') this.inflight = call;
    const outcome = await call;
    if (outcome.ok) {
      // Hooks that "return nothing" may still hand back cookies; keep them if they are dicts.
      const v = outcome.value;
      if (v && typeof v === 'object' && !Array.isArray(v)) this.keep(v['cookie'], v['session_cookie']);
      this.session.log.info({ event: 'hook.call', plugin: this.name, hook, ms: outcome.ms }, 'hook called');
    } else if (outcome.notRun && hook === 'session_ended') {
      // sessionEnded() tries again, and logs the error if it never gets through.
      this.session.log.warn({ event: 'hook.retry', plugin: this.name, hook, code: outcome.code, detail: outcome.message }, 'plugin hook did not start; trying again');
    } else {
      this.session.log.error({ event: 'hook.error', plugin: this.name, hook, code: outcome.code, ms: outcome.ms, detail: outcome.message }, 'plugin hook failed');
    }
    this.traced(hook, args, outcome);
    return outcome;
  }

  /**
   * Calls a hook whose result decides something. `check` validates the raw result; a failure of the plugin or
   * of the check throws a BastionError with the plugin code, after logging it.
   */
  protected async decide<T>(hook: HookName, extra: JsonObject, check: (raw: JsonValue) => Checked<T>, describe: (v: T) => string): Promise<T> {
    const log = this.session.log;
    if (this.session.closed) throw new BastionError('CLIENT_GONE', `session closed before ${hook}`);
    if (!this.plugin.has(hook)) {
      log.error({ event: 'hook.error', plugin: this.name, hook, code: 'PLUGIN_HOOK_MISSING' }, `calling ${hook} hook of plugin failed`);
      throw new BastionError('PLUGIN_HOOK_MISSING', `plugin ${this.name} has no ${hook} method`);
    }
    this.used = true;
    const args = this.args(extra);
    const call = this.plugin.call(hook, this.configuration, args, this.session.id, this.timeoutMs);
    this.inflight = call;
    const outcome = await call;
    const fail = (code: BastionError['code'], detail: string): never => {
      this.traced(hook, args, outcome);
      log.error({ event: 'hook.error', plugin: this.name, hook, code, ms: outcome.ms, detail }, 'plugin hook failed');
      this.session.noteVerdict(hook, code, outcome.ms);
      throw new BastionError(code, `plugin ${this.name} ${hook}: ${detail}`);
    };
    if (!outcome.ok) return fail(outcome.code, outcome.message);
    const checked = check(outcome.value);
    if (!checked.ok) return fail(checked.code ?? 'PLUGIN_BAD_RESULT', checked.message);
    this.keep(checked.cookie, checked.sessionCookie);
    this.traced(hook, args, outcome);
    const summary = describe(checked.value);
    this.session.noteVerdict(hook, summary, outcome.ms);
    log.info({ event: 'hook.call', plugin: this.name, hook, verdict: summary, ms: outcome.ms }, 'hook called');
    return checked.value;
  }

  /** Marks the plugin as taking part (so it gets session_ended) for hooks called through notify(). */
  protected markUsed(): void {
    this.used = true;
  }

  /** Hands the call to the session's trace, with the cookies as they are after it. */
  private traced(hook: HookName, args: JsonObject, outcome: HookOutcome): void {
    this.session.trace?.({
      plugin: this.name,
      hook,
      args,
      outcome: outcome.ok ? { ok: true, result: outcome.value } : { ok: false, code: outcome.code, message: outcome.message },
      cookieAfter: this.cookie,
      sessionCookieAfter: this.session.sessionCookie,
      ms: outcome.ms,
    });
  }

  private keep(cookie: JsonValue | undefined, sessionCookie: JsonValue | undefined): void {
    const isDict = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isDict(cookie)) this.cookie = cookie;
    if (isDict(sessionCookie)) this.session.sessionCookie = sessionCookie;
  }

  private args(extra: JsonObject): JsonObject {
    return { session_id: this.session.id, cookie: this.cookie, session_cookie: this.session.sessionCookie, ...extra };
  }
}
