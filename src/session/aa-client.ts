import type { Logger } from 'pino';
import { BastionError } from '../errors.js';
import type { AuthenticateArgs, AuthorizeArgs, JsonObject } from '../plugins/contract.js';
import type { PluginHandle } from '../plugins/plugin-host.js';
import { checkVerdict, type Verdict } from '../plugins/verdict.js';

// One session's view of its AA plugin: calls the hooks with the cookies of spec 4 and keeps them. A hook that
// fails (throws, times out, returns garbage) changes no cookie, so session_ended sees the last good ones
// (spec 3.2, 11.10). Failures come back as BastionErrors with the plugin's code; they are never a verdict.

export interface SharedSessionState {
  readonly id: string;
  readonly log: Logger;
  /** Shared by every plugin of the session; last writer wins (spec 4.2). */
  sessionCookie: JsonObject;
  readonly verdicts: { hook: string; verdict: string; ms: number }[];
  readonly additionalMetadata: string[];
}

type CallArgs<A> = Omit<A, 'cookie' | 'session_cookie' | 'session_id'>;

export class AaClient {
  private cookie: JsonObject = {};
  private used = false;
  /** The hook call under way, if any: session_ended waits for it so that it sees that call's cookie. */
  private inflight: Promise<unknown> | undefined;

  constructor(
    private readonly plugin: PluginHandle,
    private readonly configuration: string,
    private readonly session: SharedSessionState,
    private readonly timeoutMs: number,
  ) {}

  get name(): string {
    return this.plugin.manifest.name;
  }

  /** Whether any hook was called, i.e. the plugin took part in this session and is owed session_ended. */
  get tookPart(): boolean {
    return this.used;
  }

  authenticate(args: CallArgs<AuthenticateArgs>): Promise<Verdict> {
    return this.decide('authenticate', args as unknown as JsonObject);
  }

  authorize(args: CallArgs<AuthorizeArgs>): Promise<Verdict> {
    return this.decide('authorize', args as unknown as JsonObject);
  }

  /** Runs session_ended; never throws (its result is ignored, its failure only logged). */
  async sessionEnded(timeoutMs = this.timeoutMs): Promise<void> {
    await this.inflight?.catch(() => undefined);
    if (!this.plugin.has('session_ended')) {
      this.session.log.warn({ event: 'hook.skipped', plugin: this.name, hook: 'session_ended' }, 'plugin has no session_ended');
      return;
    }
    const outcome = await this.plugin.call('session_ended', this.configuration, this.args({}), this.session.id, timeoutMs);
    if (outcome.ok) {
      this.session.log.info({ event: 'hook.call', plugin: this.name, hook: 'session_ended', ms: outcome.ms }, 'hook called');
    } else {
      this.session.log.error({ event: 'hook.error', plugin: this.name, hook: 'session_ended', code: outcome.code, ms: outcome.ms, detail: outcome.message }, 'plugin hook failed');
    }
  }

  private args(extra: JsonObject): JsonObject {
    return { session_id: this.session.id, cookie: this.cookie, session_cookie: this.session.sessionCookie, ...extra };
  }

  private async decide(hook: 'authenticate' | 'authorize', extra: JsonObject): Promise<Verdict> {
    const log = this.session.log;
    if (!this.plugin.has(hook)) {
      // SPS: "Calling Authorize hook of AA plugin failed."
      log.error({ event: 'hook.error', plugin: this.name, hook, code: 'PLUGIN_HOOK_MISSING' }, `calling ${hook} hook of AA plugin failed`);
      throw new BastionError('PLUGIN_HOOK_MISSING', `plugin ${this.name} has no ${hook} method`);
    }
    this.used = true;
    const call = this.plugin.call(hook, this.configuration, this.args(extra), this.session.id, this.timeoutMs);
    this.inflight = call;
    const outcome = await call;
    if (!outcome.ok) {
      log.error({ event: 'hook.error', plugin: this.name, hook, code: outcome.code, ms: outcome.ms, detail: outcome.message }, 'plugin hook failed');
      this.session.verdicts.push({ hook, verdict: outcome.code, ms: outcome.ms });
      throw new BastionError(outcome.code, `plugin ${this.name} ${hook}: ${outcome.message}`);
    }
    const check = checkVerdict(hook, outcome.value);
    if (!check.ok) {
      log.error({ event: 'hook.error', plugin: this.name, hook, code: 'PLUGIN_BAD_RESULT', ms: outcome.ms, detail: check.message }, 'plugin hook failed');
      this.session.verdicts.push({ hook, verdict: 'PLUGIN_BAD_RESULT', ms: outcome.ms });
      throw new BastionError('PLUGIN_BAD_RESULT', `plugin ${this.name}: ${check.message}`);
    }
    const v = check.verdict;
    if (v.cookie) this.cookie = v.cookie;
    if (v.sessionCookie) this.session.sessionCookie = v.sessionCookie;
    if (v.additionalMetadata !== undefined) this.session.additionalMetadata.push(v.additionalMetadata);
    this.session.verdicts.push({ hook, verdict: v.verdict, ms: outcome.ms });
    for (const w of v.warnings) log.warn({ event: 'hook.warning', plugin: this.name, hook }, w);
    log.info({ event: 'hook.call', plugin: this.name, hook, verdict: v.verdict, ms: outcome.ms, ...(v.reason ? { reason: v.reason } : {}) }, 'hook called');
    return v;
  }
}
