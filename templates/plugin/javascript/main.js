// __NAME__: asks for a token (echo off), accepts the configured one, denies after three wrong tries.
// Configuration (the policy's aa_plugin.configuration, INI as in SPS):
//   [__NAME__]
//   token = letmein
// Gatehouse makes a new Plugin for every hook call: keep what must last in the returned cookie.

function setting(configuration, section, key, fallback) {
  let current = '';
  for (const raw of String(configuration ?? '').split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1].trim();
    const pair = /^([^=#;]+)=(.*)$/.exec(line);
    if (pair && current === section && pair[1].trim() === key) return pair[2].trim();
  }
  return fallback;
}

export class Plugin {
  constructor(configuration) {
    this.token = setting(configuration, '__NAME__', 'token', 'letmein');
  }

  authenticate({ key_value_pairs, cookie }) {
    if (key_value_pairs.token === this.token) return { verdict: 'ACCEPT', cookie };
    const tries = (cookie.tries ?? 0) + (key_value_pairs.token === undefined ? 0 : 1);
    if (tries >= 3) return { verdict: 'DENY', reason: 'Wrong token three times.', cookie: { ...cookie, tries } };
    return { verdict: 'NEEDINFO', question: ['token', 'Token: ', true], cookie: { ...cookie, tries } };
  }

  authorize({ server_username }) {
    return { verdict: 'ACCEPT', additional_metadata: `granted ${server_username}` };
  }

  session_ended({ session_id, cookie }) {
    console.log(`session ${session_id} ended after ${cookie.tries ?? 0} wrong tries`);
  }
}
