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
      // A prompt larger than an SSH packet comfortably carries would break the client's connection.
      const max = this.plugin.bounds.promptBytes;
      if (c.ok && c.verdict.verdict === 'NEEDINFO' && Buffer.byteLength(c.verdict.question.prompt) > max) {
        return { ok: false, code: 'PLUGIN_PROMPT_TOO_LARGE', message: `asked a question whose prompt is ${Buffer.byteLength(c.verdict.question.prompt)} bytes (plugin_pool.prompt_bytes is ${max})` };
      }
      return c.ok ? { ok: true, value: c.verdict, cookie: c.verdict.cookie, sessionCookie: c.verdict.sessionCookie } : c;
    }, (x) => x.verdict);
    if (v.additionalMetadata !== undefined) this.session.noteMetadata(v.additionalMetadata);
    for (const w of v.warnings) this.session.log.warn({ event: 'hook.warning', plugin: this.name, hook }, w);
    return v;
  }
}
