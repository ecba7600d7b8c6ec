// __NAME__: asks for a token (echo off), accepts the configured one, denies after three wrong tries.
// The types come from Gatehouse (`npm install --save-dev gatehouse`): completion and type errors for every
// hook's arguments and results. Gatehouse compiles this file itself when it loads the plugin.
import type { AaPlugin, AuthenticateArgs, AuthenticateResult, AuthorizeArgs, AuthorizeResult, SessionEndedArgs } from 'gatehouse/plugin';

interface TokenCookie {
  tries?: number;
}

function setting(configuration: string, section: string, key: string, fallback: string): string {
  let current = '';
  for (const raw of configuration.split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!.trim();
    const pair = /^([^=#;]+)=(.*)$/.exec(line);
    if (pair && current === section && pair[1]!.trim() === key) return pair[2]!.trim();
  }
  return fallback;
}

export class Plugin implements AaPlugin {
  private readonly token: string;

  constructor(configuration: string) {
    this.token = setting(configuration ?? '', '__NAME__', 'token', 'letmein');
  }

  authenticate({ key_value_pairs, cookie }: AuthenticateArgs<TokenCookie>): AuthenticateResult<TokenCookie> {
    if (key_value_pairs['token'] === this.token) return { verdict: 'ACCEPT', cookie };
    const tries = (cookie.tries ?? 0) + (key_value_pairs['token'] === undefined ? 0 : 1);
    if (tries >= 3) return { verdict: 'DENY', reason: 'Wrong token three times.', cookie: { ...cookie, tries } };
    return { verdict: 'NEEDINFO', question: ['token', 'Token: ', true], cookie: { ...cookie, tries } };
  }

  authorize({ server_username }: AuthorizeArgs): AuthorizeResult {
    return { verdict: 'ACCEPT', additional_metadata: `granted ${server_username}` };
  }

  session_ended({ session_id, cookie }: SessionEndedArgs<TokenCookie>): void {
    console.log(`session ${session_id} ended after ${cookie.tries ?? 0} wrong tries`);
  }
}
