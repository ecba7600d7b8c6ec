import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse, LogLine } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { FIXTURES } from '../helpers/paths.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// Floods as an attacker sends them, from 127.0.0.1 in a process of its own, while a legitimate user logs in
// with the real OpenSSH client from 127.0.0.2: connections that never send an SSH identification line, and
// connections that send only that line. Gatehouse runs in this process, so /proc/self/fd counts its sockets.

const SPECS: PolicySpec[] = [{ alias: 'tgt', plugin: {} }];
const GRACE_S = 6;

const fds = (): number => readdirSync('/proc/self/fd').length;

interface Flood {
  readonly child: ChildProcess;
  readonly last: () => { open: number; closed: number };
  stop(): void;
}

function flood(port: number, n: number, mode: 'silent' | 'ident'): Flood {
  const child = spawn(process.execPath, [join(FIXTURES, 'flood.mjs'), String(port), String(n), '127.0.0.1', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  let last = { open: 0, closed: 0 };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    if (lines.length > 0) last = JSON.parse(lines.at(-1)!) as typeof last;
  });
  return { child, last: () => last, stop: () => { child.stdin!.end(); } };
}

describe('admission from TCP accept: floods of silent and ident-only connections', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const login = (): Promise<{ code: number | null; stdout: string; stderr: string }> => runSsh({
    port: gh.port, knownHosts: gh.knownHosts, login: `token=good@${sshd.user}@tgt`, command: 'echo through', options: ['-b', '127.0.0.2'],
  });

  before(async () => {
    scenario = await startScenario(SPECS, { extra: { timeouts: { login_grace: GRACE_S } } });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  for (const [mode, n] of [['silent', 300], ['ident', 200]] as const) {
    test(`${n} ${mode} connections from one address: descriptors bounded, each drop and timeout logged, another address logs in`, async () => {
      const before = fds();
      const logsBefore = gh.logs.length;
      const f = flood(gh.port, n, mode);
      let peak = before;
      const sample = setInterval(() => { peak = Math.max(peak, fds()); }, 50);
      try {
        const dropped = () => gh.logs.slice(logsBefore).filter((l) => l.event === 'connection.dropped');
        // The per-source limit (50 by default) leaves the rest of the slots to everyone else.
        await gh.waitFor(`${n - 50} drops logged`, () => dropped().length >= n - 50, 30_000);
        const drops = dropped();
        assert.ok(drops.every((l) => l.rule === 'per_source' && l.ip === '127.0.0.1'), JSON.stringify(drops[0]));

        const r = await login();
        assert.equal(r.stdout, 'through\n', r.stderr);

        // Held connections are ended at login_grace from TCP accept, with a log line each.
        await gh.waitFor('the held flood connections closed by the deadline', () => f.last().closed >= n, (GRACE_S + 20) * 1000);
        const timeouts = (): LogLine[] => gh.logs.slice(logsBefore).filter((l) => (mode === 'silent'
          ? l.event === 'connection.timeout'
          : l.event === 'session.closed' && l.reason === 'login_timeout'));
        // A session's close is logged once its record is written, a little after its socket closed.
        await gh.waitFor(`${n} drops and timeouts logged`, () => timeouts().length + drops.length >= n, 15_000);
        assert.ok(timeouts().length >= 1, `no ${mode} timeout logged`);
      } finally {
        clearInterval(sample);
        f.stop();
      }
      // Without admission at accept, every flood connection held a descriptor until the grace time.
      assert.ok(peak - before < 120, `Gatehouse held ${peak - before} more descriptors during the flood (from ${before})`);
    });
  }
});
