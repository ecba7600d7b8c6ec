// The token example from the SPS plugin documentation, written for Gatehouse: asks for a token (echo off),
// counts the tries in the cookie and denies after three wrong ones; session_ended logs the cookie.
// Configuration (INI, as SPS passes it):
//   [demo]
//   token = gatehouse

function readToken(configuration) {
  let section = '';
  for (const raw of String(configuration ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      continue;
    }
    const m = /^([^=:]+)[=:](.*)$/.exec(line);
    if (section === 'demo' && m && m[1].trim() === 'token') return m[2].trim();
  }
  return 'gatehouse';
}

export class Plugin {
  constructor(configuration) {
    this.token = readToken(configuration);
  }

  authenticate({ key_value_pairs, cookie }) {
    if (key_value_pairs.token === this.token) {
      return { verdict: 'ACCEPT', cookie: { ...cookie, accepted_after: cookie.cnt ?? 0 } };
    }
    const cnt = (cookie.cnt ?? 0) + 1;
    if (cnt > 3) {
      return { verdict: 'DENY', reason: 'Wrong token three times; access denied.', cookie: { ...cookie, cnt } };
    }
    return { verdict: 'NEEDINFO', question: ['token', 'Demo token (hint: gatehouse): ', true], cookie: { ...cookie, cnt } };
  }

  authorize() {
    return { verdict: 'ACCEPT' };
  }

  session_ended({ session_id, cookie }) {
    const details = Object.keys(cookie).sort().map((k) => `${k}=${cookie[k]}`).join(',');
    console.log(`Session ended; session_id='${session_id}', session_details='${details}'`);
  }
}
