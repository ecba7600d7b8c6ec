import { readFileSync } from 'node:fs';
import ssh2, { type Client, type ClientChannel } from 'ssh2';
import { procStats, type BenchEnv } from './env.js';

// Concurrent idle sessions: opens N proxied shell sessions with ssh2 clients (to the ssh2 idle target, since
// OpenSSH forks a process per connection), reads Gatehouse's RSS per session, then checks that every session
// still answers.

export interface IdleFigures {
  readonly sessions: number;
  readonly opened: number;
  readonly answering: number;
  readonly rssPerSessionKiB: number;
  readonly openSeconds: number;
  /** Why sessions failed to open, with counts. */
  readonly failures: Record<string, number>;
}

function open(env: BenchEnv): Promise<{ client: Client; channel: ClientChannel }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.once('ready', () => {
      client.shell(false, (err, channel) => (err ? reject(err) : resolve({ client, channel })));
    });
    client.connect({
      host: '127.0.0.1', port: env.gatehousePort, username: `idle@${env.idleAlias}`,
      tryKeyboard: true, readyTimeout: 60_000, hostVerifier: () => true, keepaliveInterval: 0,
    });
    client.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => '')));
  });
}

function ping(channel: ClientChannel, i: number): Promise<boolean> {
  const word = `ping-${i}\n`;
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => resolve(false), 30_000);
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes(word)) {
        clearTimeout(timer);
        channel.off('data', onData);
        resolve(true);
      }
    };
    channel.on('data', onData);
    channel.write(word);
  });
}

/** Gatehouse's open-file limit: each proxied session holds two sockets. */
export function fileLimit(pid: number): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
}

export async function idleSessions(env: BenchEnv, n: number, batch = 40): Promise<IdleFigures> {
  // Warm up first, so that what is measured is per session, not the plugin runners and heap Gatehouse
  // starts anyway under a burst of logins.
  const warm = await Promise.all(Array.from({ length: batch }, () => open(env)));
  for (const s of warm) s.client.end();
  await new Promise((r) => setTimeout(r, 2000));
  const before = procStats(env.gatehousePid).rssBytes;
  const sessions: { client: Client; channel: ClientChannel }[] = [];
  const failures: Record<string, number> = {};
  const started = performance.now();
  for (let i = 0; i < n; i += batch) {
    const got = await Promise.allSettled(Array.from({ length: Math.min(batch, n - i) }, () => open(env)));
    for (const g of got) {
      if (g.status === 'fulfilled') sessions.push(g.value);
      else failures[String((g.reason as Error).message)] = (failures[String((g.reason as Error).message)] ?? 0) + 1;
    }
  }
  const openSeconds = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // let the heap settle
  const after = procStats(env.gatehousePid).rssBytes;
  let answering = 0;
  for (let i = 0; i < sessions.length; i += 200) {
    const ok = await Promise.all(sessions.slice(i, i + 200).map((s, j) => ping(s.channel, i + j)));
    answering += ok.filter(Boolean).length;
  }
  for (const s of sessions) s.client.end();
  await new Promise((r) => setTimeout(r, 1000));
  return {
    sessions: n,
    opened: sessions.length,
    answering,
    rssPerSessionKiB: sessions.length > 0 ? (after - before) / 1024 / sessions.length : Number.NaN,
    openSeconds,
    failures,
  };
}
