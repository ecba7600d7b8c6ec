import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { LogLine } from './gatehouse.js';
import { CLI, FIXTURES } from './paths.js';
import { scenarioHosts, scenarioPolicies, targetKnownHosts, type PolicySpec } from './scenario.js';
import type { Sshd } from './sshd.js';

// Gatehouse as its own process (`gatehouse serve`), as production runs it: needed where the process itself is
// under test (workers: N forks, a worker killed, signals). Its JSON log lines are collected from stdout.


export interface GatehouseProcess {
  readonly dir: string;
  readonly configFile: string;
  readonly callsFile: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  /** known_hosts trusting Gatehouse's host keys on `port`. */
  knownHosts(port: number): string;
  clientKeyLine(): string;
  /** Polls `pred` (running `refresh` first each time, if given) until it holds. */
  waitFor(what: string, pred: () => boolean, timeoutMs?: number, refresh?: () => Promise<void>): Promise<void>;
  cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Rewrites config.yaml with more top-level keys and, if given, other policy specs. */
  writeConfig(extra: Record<string, unknown>, specs?: readonly PolicySpec[]): void;
  stop(): Promise<number | null>;
}

export function cliRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export async function startGatehouseProcess(sshd: Sshd, specs: readonly PolicySpec[], extra: Record<string, unknown>, plugin = 'scripted'): Promise<GatehouseProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-proc-'));
  const callsFile = join(dir, 'calls.jsonl');
  mkdirSync(join(dir, 'plugins'));
  cpSync(join(FIXTURES, 'plugins', plugin), join(dir, 'plugins', plugin), { recursive: true });
  for (const [rel, content] of Object.entries(targetKnownHosts(sshd))) writeFileSync(join(dir, rel), content);
  const configFile = join(dir, 'config.yaml');
  const writeConfig = (more: Record<string, unknown>, others?: readonly PolicySpec[]): void => writeFileSync(configFile, yaml.dump({
    listen: ['127.0.0.1:0'],
    log_level: 'debug',
    plugin_pool: { warm_workers: 1 },
    hosts: scenarioHosts(sshd, specs),
    ...extra,
    ...more,
    policies: scenarioPolicies({ dir, callsFile }, sshd, others ?? specs, plugin),
  }));
  writeConfig({});

  const logs: LogLine[] = [];
  let partial = '';
  let err = '';
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try {
        if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      } catch {
        err += `unparsed stdout: ${line}\n`;
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitFor = async (what: string, pred: () => boolean, timeoutMs = 30_000, refresh?: () => Promise<void>): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while ((await refresh?.(), !pred())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstderr: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const keysDir = join(dir, 'keys');
  return {
    dir, configFile, callsFile, child, logs, waitFor, writeConfig,
    stderr: () => err,
    knownHosts(port) {
      const file = join(dir, `known_hosts_${port}`);
      writeFileSync(file, ['host_ed25519', 'host_rsa']
        .map((f) => `[127.0.0.1]:${port} ${readFileSync(join(keysDir, `${f}.pub`), 'utf8').trim()}`).join('\n') + '\n');
      return file;
    },
    clientKeyLine: () => (existsSync(join(keysDir, 'client_ed25519.pub')) ? readFileSync(join(keysDir, 'client_ed25519.pub'), 'utf8').trim() : ''),
    cli: (...args) => cliRun(...args, '--config', configFile),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}
