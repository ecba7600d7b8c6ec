import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import yaml from 'js-yaml';
import { runSsh } from '../helpers/openssh.js';
import { CLI, FIXTURES } from '../helpers/paths.js';
import { freePort } from '../helpers/sshd.js';

// Issue 15, plugin lifetime: a Python hook process stuck in a busy loop dies with Gatehouse. Gatehouse runs as
// `gatehouse serve` in a child process and is killed with SIGKILL (no shutdown code runs); its Python plugin
// processes must go too.

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: string, pred: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('plugin lifetime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-life-'));
  let child: ChildProcess | undefined;
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a hung Python hook process dies when Gatehouse is killed', async () => {
    mkdirSync(join(dir, 'plugins'));
    cpSync(join(FIXTURES, 'plugins', 'scripted_py'), join(dir, 'plugins', 'scripted_py'), { recursive: true });
    const calls = join(dir, 'calls.jsonl');
    const port = await freePort();
    writeFileSync(join(dir, 'config.yaml'), yaml.dump({
      listen: [`127.0.0.1:${port}`],
      plugin_pool: { warm_workers: 1 },
      policies: [{
        name: 'hang',
        aa_plugin: { name: 'scripted_py', configuration: JSON.stringify({ record: calls, fail: { hook: 'authenticate', how: 'hang' } }) },
        targets: { allow: [{ hosts: ['localhost'], ports: [22] }] },
        target_auth: { method: 'key' },
      }],
    }));
    child = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = child.pid!;
    const logs: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => logs.push(l));
    await until('listening', () => logs.some((l) => l.includes('"server.listening"')));
    const hostKey = readFileSync(join(dir, 'keys', 'host_ed25519.pub'), 'utf8').trim();
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);

    const login = runSsh({ port, knownHosts: join(dir, 'known_hosts'), login: 'root@localhost', answers: [], command: 'true', timeoutMs: 60_000 });
    await until('the hook to be running', () => existsSync(calls) && readFileSync(calls, 'utf8').includes('"authenticate"'));
    const pythons = childrenOf(pid).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('python-host.py'));
    assert.ok(pythons.length >= 1, 'a Python hook process runs');

    child.kill('SIGKILL');
    await until('Gatehouse to be gone', () => !running(pid));
    await until(`the Python plugin processes ${pythons.join(', ')} to die with it`, () => pythons.every((p) => !running(p)), 10_000);
    const r = await login;
    assert.equal(r.code, 255);
  });
});
