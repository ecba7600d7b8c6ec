import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';

// Agent forwarding (ssh -A) with the real OpenSSH client, a real ssh-agent holding a key, and a real sshd
// target on which `ssh-add -l` asks the forwarded agent for its keys.

const SPECS: PolicySpec[] = [
  { alias: 'agent', plugin: {}, more: { allow_agent_forwarding: true } },
  { alias: 'noagent', plugin: {} },
  { alias: 'agentx11', plugin: {}, more: { allow_agent_forwarding: true, allow_x11_forwarding: true } },
];
const COMMENT = 'gatehouse-agent-test';

describe('agent forwarding through Gatehouse', () => {
  let work: string;
  let sock: string;
  let agent: ChildProcess;
  let keyLine: string;
  let savedSock: string | undefined;
  const scenarios: Scenario[] = [];

  const sshVia = (s: Scenario, alias: string, forwardAgent = true) =>
    runSsh({ port: s.gh.port, knownHosts: s.gh.knownHosts, login: `token=good@${s.sshd.user}@${alias}`, command: 'ssh-add -L', options: [forwardAgent ? '-A' : '-a'] });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'gh-agent-'));
    sock = join(work, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    const key = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', COMMENT, '-f', key]);
    execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    keyLine = readFileSync(`${key}.pub`, 'utf8').trim();
    // As a user runs it: ssh -A with the agent in SSH_AUTH_SOCK (the client forwards nothing without one).
    savedSock = process.env['SSH_AUTH_SOCK'];
    process.env['SSH_AUTH_SOCK'] = sock;
    scenarios.push(await startScenario(SPECS));
  });
  after(async () => {
    for (const s of scenarios) await s.stop();
    if (savedSock === undefined) delete process.env['SSH_AUTH_SOCK'];
    else process.env['SSH_AUTH_SOCK'] = savedSock;
    agent?.kill();
    rmSync(work, { recursive: true, force: true });
  });

  test('where the policy allows it, programs on the target use the user\'s own agent', async () => {
    const [s] = scenarios;
    const r = await sshVia(s!, 'agent');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), keyLine);
    await s!.gh.waitFor('agent channel logged', () => s!.gh.logs.some((l) => l.event === 'agent.open'));
  });

  test('a client that does not ask (no -A) gets no agent, even where the policy allows it', async () => {
    const [s] = scenarios;
    const r = await sshVia(s!, 'agent', false);
    assert.equal(r.code, 2, `ssh-add -L without an agent exits 2: ${r.stdout} ${r.stderr}`);
    assert.doesNotMatch(r.stdout, new RegExp(COMMENT));
  });

  test('by default the request is refused and the command runs without an agent', async () => {
    const [s] = scenarios;
    const r = await sshVia(s!, 'noagent');
    assert.equal(r.code, 2, `ssh-add -L without an agent exits 2: ${r.stdout} ${r.stderr}`);
    assert.doesNotMatch(r.stdout, new RegExp(COMMENT));
    await s!.gh.waitFor('refusal logged', () => s!.gh.logs.some((l) => l.event === 'agent.refused'));
  });

  test('the agent survives a target that refuses X11 in the same request (ssh -A -Y)', async () => {
    // The test sshd leaves X11Forwarding at its default, no: the channel is opened again without X11.
    const [s] = scenarios;
    const r = await runSsh({
      port: s!.gh.port, knownHosts: s!.gh.knownHosts, login: `token=good@${s!.sshd.user}@agentx11`,
      command: 'ssh-add -L', options: ['-A', '-Y'], env: { DISPLAY: '127.0.0.1:99' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), keyLine);
    assert.match(r.stderr, /X11 forwarding request failed/);
  });

  test('a target that refuses agent forwarding still runs the command, as with OpenSSH', async () => {
    const s = await startScenario(SPECS, { sshdConfig: ['AllowAgentForwarding no'] });
    scenarios.push(s);
    const r = await sshVia(s, 'agent');
    assert.equal(r.code, 2, `ssh-add -L without an agent exits 2: ${r.stdout} ${r.stderr}`);
    assert.doesNotMatch(r.stdout, new RegExp(COMMENT));
    await s.gh.waitFor('target refusal logged', () => s.gh.logs.some((l) => l.event === 'agent.refused' && l['by'] === 'target'));
  });
});
