import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

// A real FreeRADIUS (Debian freeradius) on 127.0.0.1 from a temp dir with a minimal radiusd.conf of its own:
// `users` maps a user name to the password it accepts; `challenge` users first get an Access-Challenge (no
// echo, a State) for their first password and are accepted with the second one when the State comes back.

export const RADIUS_STATE_HEX = '676873746174653031';

/** An RFC 2865 dictionary subset pyrad 2.1 can read (FreeRADIUS 3.2's own it cannot). */
export const PYRAD_DICTIONARY = `ATTRIBUTE\tUser-Name\t1\tstring
ATTRIBUTE\tUser-Password\t2\tstring\tencrypt=1
ATTRIBUTE\tCHAP-Password\t3\toctets
ATTRIBUTE\tService-Type\t6\tinteger
VALUE\tService-Type\tLogin-User\t1
ATTRIBUTE\tReply-Message\t18\tstring
ATTRIBUTE\tState\t24\toctets
ATTRIBUTE\tNAS-Identifier\t32\tstring
ATTRIBUTE\tNAS-IP-Address\t4\tipaddr
ATTRIBUTE\tPrompt\t76\tinteger
VALUE\tPrompt\tNo-Echo\t0
VALUE\tPrompt\tEcho\t1
`;

export interface RadiusUsers {
  readonly accept: Record<string, string>;
  readonly challenge: Record<string, { first: string; message: string; second: string }>;
}

export interface FreeRadius {
  readonly port: number;
  readonly secret: string;
  /** What the server logged (requests and replies, never the shared secret). */
  output(): string;
  stop(): Promise<void>;
}

const q = (s: string): string => JSON.stringify(s);

export async function startFreeRadius(users: RadiusUsers, secret: string): Promise<FreeRadius> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-radius-'));
  const port = await freePort();
  const rules = [
    ...Object.entries(users.accept).map(([u, p]) => `if (&User-Name == ${q(u)}) {
      if (&User-Password == ${q(p)}) {
        update control {
          &Auth-Type := Accept
        }
      }
      else {
        reject
      }
    }`),
    ...Object.entries(users.challenge).map(([u, c]) => `if (&User-Name == ${q(u)}) {
      if (&State) {
        if (&State == 0x${RADIUS_STATE_HEX} && &User-Password == ${q(c.second)}) {
          update control {
            &Auth-Type := Accept
          }
        }
        else {
          reject
        }
      }
      elsif (&User-Password == ${q(c.first)}) {
        update reply {
          &Reply-Message := ${q(c.message)}
          &Prompt := No-Echo
          &State := 0x${RADIUS_STATE_HEX}
        }
        update control {
          &Response-Packet-Type := Access-Challenge
        }
        handled
      }
      else {
        reject
      }
    }`),
  ].join('\n    els');
  writeFileSync(join(dir, 'radiusd.conf'), `prefix = /usr
localstatedir = ${dir}
logdir = ${dir}
raddbdir = ${dir}
confdir = ${dir}
run_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${join(dir, 'radiusd.pid')}
max_request_time = 30
cleanup_delay = 0
max_requests = 1024
log {
  destination = stdout
}
security {
  reject_delay = 0
}
client localhost {
  ipaddr = 127.0.0.1
  secret = ${secret}
}
modules {
  always reject {
    rcode = reject
  }
  always handled {
    rcode = handled
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${port}
  }
  authorize {
    ${rules}
    else {
      reject
    }
  }
  authenticate {
  }
}
`);
  const child: ChildProcess = spawn('/usr/sbin/freeradius', ['-d', dir, '-f', '-l', 'stdout', '-xx'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!out.includes('Ready to process requests')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`FreeRADIUS did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, secret, output: () => out, stop };
}
