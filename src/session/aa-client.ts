import type { AuthenticateArgs, AuthorizeArgs, JsonObject } from '../plugins/contract.js';
import { checkVerdict, type Verdict } from '../plugins/verdict.js';
import { PluginClient, type Checked } from './plugin-client.js';

// The session's AA plugin (spec 5): authenticate and authorize return verdicts; session_ended comes from
// PluginClient.

type CallArgs<A> = Omit<A, 'cookie' | 'session_cookie' | 'session_id'>;

export class AaClient extends PluginClient {
  authenticate(args: CallArgs<AuthenticateArgs>): Promise<Verdict> {
    return this.verdict('authenticate', args as unknown as JsonObject);
  }

  authorize(args: CallArgs<AuthorizeArgs>): Promise<Verdict> {
    return this.verdict('authorize', args as unknown as JsonObject);
  }

  private async verdict(hook: 'authenticate' | 'authorize', args: JsonObject): Promise<Verdict> {
    const v = await this.decide(hook, args, (raw): Checked<Verdict> => {
      const c = checkVerdict(hook, raw);
      return c.ok ? { ok: true, value: c.verdict, cookie: c.verdict.cookie, sessionCookie: c.verdict.sessionCookie } : c;
    }, (x) => x.verdict);
    if (v.additionalMetadata !== undefined) this.session.noteMetadata(v.additionalMetadata);
    for (const w of v.warnings) this.session.log.warn({ event: 'hook.warning', plugin: this.name, hook }, w);
    return v;
  }
}
