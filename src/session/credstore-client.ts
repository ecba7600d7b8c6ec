import type { CredentialArgs, JsonObject } from '../plugins/contract.js';
import { checkPasswordList, checkPrivateKeyList, type CredentialCheck, type CredentialResult, type PrivateKey } from '../plugins/credentials.js';
import { PluginClient, type Checked } from './plugin-client.js';

// The session's credential store (spec 6): hands out passwords and private keys for the target login, hears
// authentication_completed only after a successful one, and session_ended once.

type CallArgs = Omit<CredentialArgs, 'cookie' | 'session_cookie' | 'session_id'>;

export class CredstoreClient extends PluginClient {
  async passwords(args: CallArgs): Promise<readonly string[]> {
    if (!this.has('get_password_list')) return [];
    return this.list('get_password_list', args, checkPasswordList);
  }

  async privateKeys(args: CallArgs): Promise<readonly PrivateKey[]> {
    if (!this.has('get_private_key_list')) return [];
    return this.list('get_private_key_list', args, checkPrivateKeyList);
  }

  /** Only after a successful target login with the store's credentials (spec 6.1, 11.16). */
  async authenticationCompleted(): Promise<void> {
    // A session already over (client gone while the target login ran) gets session_ended, not this.
    if (!this.has('authentication_completed') || this.session.closed) return;
    this.markUsed();
    await this.notify('authentication_completed');
  }

  private async list<T>(hook: 'get_password_list' | 'get_private_key_list', args: CallArgs, check: (raw: Parameters<typeof checkPasswordList>[0]) => CredentialCheck<T>): Promise<readonly T[]> {
    const result = await this.decide(hook, args as unknown as JsonObject, (raw): Checked<CredentialResult<T>> => {
      const c = check(raw);
      return c.ok ? { ok: true, value: c.result, cookie: c.result.cookie, sessionCookie: c.result.sessionCookie } : c;
    }, (r) => `${r.items.length} usable`);
    for (const why of result.skipped) this.session.log.warn({ event: 'credential.skipped', plugin: this.name, hook }, why);
    return result.items;
  }
}
