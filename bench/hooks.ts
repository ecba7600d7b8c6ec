import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { PluginHost } from '../src/plugins/plugin-host.js';
import { percentile } from './stats.js';

// Hook-call overhead: what one call to a do-nothing plugin costs, JavaScript and Python, measured on the same
// plugin host Gatehouse uses. Calls are paced (as logins are) so that the warm pool is what is measured.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'fixtures');

export interface HookFigures {
  readonly medianMs: number;
  readonly p99Ms: number;
  /** CPU milliseconds per call, all threads and child processes of the host included. */
  readonly cpuMsPerCall: number;
}

export async function hookOverhead(plugin: 'noop' | 'noop_py', calls: number, paceMs: number): Promise<HookFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-hooks-'));
  const host = new PluginHost({
    pluginsDir: FIXTURES, stateDir: join(dir, 'state'), ephemeralDir: join(dir, 'run'),
    warmWorkers: 2, maxActive: 64, memoryMb: 256, python: '/usr/bin/python3', log: pino({ level: 'silent' }),
  });
  try {
    const p = await host.load(plugin, 'aa');
    const args = { session_id: 'bench', cookie: {}, session_cookie: {}, key_value_pairs: {} };
    for (let i = 0; i < 5; i++) await p.call('authenticate', '', args, 'bench', 10_000);
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    const children0 = childCpuMs();
    for (let i = 0; i < calls; i++) {
      await new Promise((r) => setTimeout(r, paceMs));
      const started = performance.now();
      const r = await p.call('authenticate', '', args, 'bench', 10_000);
      times.push(performance.now() - started);
      if (!r.ok) throw new Error(`${plugin}: ${r.message}`);
    }
    await new Promise((r) => setTimeout(r, 200)); // let the last refill finish, so its cost is counted
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000 + (childCpuMs() - children0);
    return { medianMs: percentile(times, 50), p99Ms: percentile(times, 99), cpuMsPerCall: cpuMs / (calls + 1) };
  } finally {
    await host.close(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU of reaped child processes (Python runners), from /proc/self/stat's cutime + cstime. */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}
