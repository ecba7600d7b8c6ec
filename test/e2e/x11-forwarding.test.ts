import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';

// X11 forwarding (ssh -Y) with the real OpenSSH client and a real sshd target (X11Forwarding yes, xauth). The
// "X server" is a TCP echo server on this machine's display port; on the target, a small X11 client reads the
// cookie sshd stored for its display, connects, and reads back what the X server echoed. The OpenSSH client
// checks and replaces the cookie on the way, so the exchange only works when every hop carries it intact.

const SPECS: PolicySpec[] = [
  { alias: 'x11', plugin: {}, more: { allow_x11_forwarding: true } },
  { alias: 'nox11', plugin: {} },
];

// Sends an X11 connection setup with the display's cookie plus a marker, prints the marker as echoed back.
const X11_CLIENT = [
  'import os, socket, subprocess',
  "d = os.environ['DISPLAY']",
  "num = int(d.rsplit(':', 1)[1].split('.')[0])",
  "cookie = bytes.fromhex(subprocess.run(['xauth', 'list', d], capture_output=True, text=True).stdout.split()[-1])",
  "name = b'MIT-MAGIC-COOKIE-1'",
  "pad = lambda b: b + bytes(-len(b) % 4)",
  "le = lambda n: n.to_bytes(2, 'little')",
  "setup = b'l\\0' + le(11) + le(0) + le(len(name)) + le(len(cookie)) + bytes(2) + pad(name) + pad(cookie)",
  "s = socket.create_connection(('127.0.0.1', 6000 + num))",
  "s.sendall(setup + b'x11-marker')",
  "got = b''",
  "while not got.endswith(b'x11-marker'):",
  "    chunk = s.recv(4096)",
  "    if not chunk: break",
  "    got += chunk",
  "print(got[-10:].decode(errors='replace'))",
].join('\n');

async function fakeXServer(): Promise<{ server: Server; display: number }> {
  for (let display = 40 + Math.floor(Math.random() * 40); ; display++) {
    const server = createServer((c) => c.pipe(c));
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(6000 + display, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { server, display };
    if (display > 200) throw new Error('no free X11 display port');
  }
}

describe('X11 forwarding through Gatehouse', () => {
  let scenario: Scenario;
  let x: { server: Server; display: number };
  const sshY = (alias: string) => runSsh({
    port: scenario.gh.port, knownHosts: scenario.gh.knownHosts, login: `token=good@${scenario.sshd.user}@${alias}`,
    // The script goes in on stdin, so no login shell's quoting rules apply to it.
    command: 'python3 -', stdin: `${X11_CLIENT}\n`, options: ['-Y'], env: { DISPLAY: `127.0.0.1:${x.display}` },
  });

  before(async () => {
    x = await fakeXServer();
    // IPv4 only: sshd's X11 listener fails on hosts without ::1 otherwise.
    scenario = await startScenario(SPECS, { sshdConfig: ['X11Forwarding yes', 'X11UseLocalhost yes', 'AddressFamily inet'] });
  });
  after(async () => {
    await scenario?.stop();
    x?.server.close();
  });

  test('where the policy allows it, an X11 client on the target reaches the user\'s display', async () => {
    const r = await sshY('x11');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'x11-marker\n', r.stderr);
    assert.ok(scenario.gh.logs.some((l) => l.event === 'channel.open' && l['type'] === 'x11'));
  });

  test('by default the request is refused and the command runs without a display', async () => {
    const r = await runSsh({
      port: scenario.gh.port, knownHosts: scenario.gh.knownHosts, login: `token=good@${scenario.sshd.user}@nox11`,
      command: 'echo "display=${DISPLAY:-none}"', options: ['-Y'], env: { DISPLAY: `127.0.0.1:${x.display}` },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'display=none\n');
    await scenario.gh.waitFor('refusal logged', () => scenario.gh.logs.some((l) => l.event === 'x11.refused'));
  });

  test('a target that refuses X11 forwarding still runs the command, as with OpenSSH', async () => {
    const plain = await startScenario(SPECS, { sshdConfig: ['X11Forwarding no'] });
    try {
      const r = await runSsh({
        port: plain.gh.port, knownHosts: plain.gh.knownHosts, login: `token=good@${plain.sshd.user}@x11`,
        command: 'echo "display=${DISPLAY:-none}"', options: ['-Y'], env: { DISPLAY: `127.0.0.1:${x.display}` },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'display=none\n');
      assert.match(r.stderr, /X11 forwarding request failed on channel 0/);
      await plain.gh.waitFor('target refusal logged', () => plain.gh.logs.some((l) => l.event === 'x11.refused' && l['by'] === 'target'));
    } finally {
      await plain.stop();
    }
  });
});
