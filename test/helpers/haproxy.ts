import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './sshd.js';

// The real HAProxy (Debian haproxy) in TCP mode in front of Gatehouse instances, from its own config in a
// temp dir, in the foreground (-db). Each frontend is a loopback port that spreads connections over the
// backends, announcing the client with the PROXY protocol.

export const HAPROXY = '/usr/sbin/haproxy';

export interface HaproxyFrontend {
  /** 'v1' is HAProxy's send-proxy, 'v2' send-proxy-v2. */
  readonly proxy: 'v1' | 'v2';
  readonly backends: readonly number[];
}

export interface Haproxy {
  /** The loopback port of each frontend, in the order given. */
  readonly ports: readonly number[];
  readonly output: () => string;
  stop(): Promise<void>;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function startHaproxy(frontends: readonly HaproxyFrontend[]): Promise<Haproxy> {
  if (!existsSync(HAPROXY)) throw new Error(`${HAPROXY} is missing: install the haproxy package`);
  const dir = mkdtempSync(join(tmpdir(), 'gh-haproxy-'));
  const ports: number[] = [];
  for (let i = 0; i < frontends.length; i++) ports.push(await freePort());
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 10m',
    '  timeout server 10m',
    ...frontends.flatMap((f, i) => [
      `frontend ssh${i}`,
      `  bind 127.0.0.1:${ports[i]}`,
      `  default_backend gh${i}`,
      `backend gh${i}`,
      // A new connection goes to the backend with the fewest, so that two logins in a row land on both.
      '  balance leastconn',
      ...f.backends.map((p, j) => `  server gh${j} 127.0.0.1:${p} ${f.proxy === 'v1' ? 'send-proxy' : 'send-proxy-v2'}`),
    ]),
    '',
  ].join('\n'));
  let out = '';
  const child: ChildProcess = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (const p of ports) {
    while (!(await accepts(p))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not start: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ports, output: () => out, stop };
}
