import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'ssh2';
import { cpuHasAes } from '../../src/ssh2x/algorithms.js';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runScp, runSftp, runSsh, sshArgs, type ClientResult } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import { connectClient, exec } from '../helpers/ssh2-client.js';
import { freePort, type Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';

// Everything a session carries: exec with exit codes and stderr, stdin EOF, env, a pty shell with resizes,
// signals, scp and sftp, local and remote forwarding, and a 256 MiB transfer each way that arrives intact while
// Gatehouse's memory stays bounded.

const SECRET = 'Pty-Secret-3141';
const SPECS: PolicySpec[] = [
  { alias: 'tgt', plugin: { expect: { token: 'good' } } },
  { alias: 'tty', plugin: { questions: [['token', 'Token: ', true], ['color', 'Favourite colour: ']], expect: { token: SECRET, color: 'blue' } } },
  { alias: 'nofwd', plugin: {}, more: { allow_tcp_forwarding: false, allow_streamlocal_forwarding: false } },
  { alias: 'localfwd', plugin: {}, more: { allow_tcp_forwarding: 'local' } },
];
const BIG = 256 * 1024 * 1024;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const block = randomBytes(4 * 1024 * 1024);
  for (let written = 0, i = 0; written < size; written += block.length, i++) {
    block.writeUInt32LE(i, 0); // no two blocks alike, so a reordered or repeated block changes the hash
    writeSync(fd, block, 0, Math.min(block.length, size - written));
  }
  closeSync(fd);
}

/** Runs `fn` while sampling this process's RSS; returns the peak growth in MiB. */
async function peakRssGrowth(fn: () => Promise<ClientResult>): Promise<{ result: ClientResult; growthMiB: number }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 25);
  try {
    const result = await fn();
    return { result, growthMiB: (peak - base) / 1048576 };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs `ssh -N -L localSock:targetSock` through Gatehouse, sends `text` through the local socket once it
 * answers, and returns what came back (empty when the forward was refused: ssh then closes the connection)
 * and what ssh printed.
 */
async function viaUnixTunnel(sshLogin: string, localSock: string, targetSock: string, text: string, gh: { port: number; knownHosts: string }): Promise<{ reply: string; stderr: string }> {
  const args = sshArgs({ port: gh.port, knownHosts: gh.knownHosts, login: sshLogin });
  const tunnel = spawn('ssh', [...args, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${localSock}:${targetSock}`, '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tunnel.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => tunnel.once('exit', () => resolve()));
  const attempt = (): Promise<string> => new Promise((resolve, reject) => {
    const sock = connect(localSock, () => sock.end(text));
    let got = '';
    sock.on('data', (d: Buffer) => { got += d.toString(); });
    sock.on('end', () => resolve(got));
    // A refused forward: ssh closes the connection, and the write or the read sees it reset.
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(got) : reject(err)));
  });
  try {
    // ssh creates the socket before it listens on it: retry until it answers, unless ssh has given up.
    for (let deadline = Date.now() + 15_000; ; await new Promise((r) => setTimeout(r, 25))) {
      if (tunnel.exitCode !== null) throw new Error(`ssh -L exited (${tunnel.exitCode}): ${stderr}`);
      try {
        const reply = await attempt();
        await new Promise((r) => setTimeout(r, 50)); // let ssh report a refused channel
        return { reply, stderr };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw new Error(`${(err as Error).message}; ssh said: ${stderr}`);
      }
    }
  } finally {
    tunnel.kill();
    await exited;
  }
}

describe('channels through Gatehouse', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let work: string;
  let remote: string;
  let echo: Server;
  let echoPort: number;
  const login = (alias = 'tgt') => `token=good@${sshd.user}@${alias}`;
  const ssh = (command: string, extra: { stdin?: string | Buffer; options?: string[]; alias?: string } = {}) =>
    runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(extra.alias), command, stdin: extra.stdin, options: extra.options });

  let scenario: Scenario | undefined;
  before(async () => {
    scenario = await startScenario(SPECS);
    ({ sshd, gh } = scenario);
    work = mkdtempSync(join(tmpdir(), 'gh-chan-'));
    // A directory the target user can write to (the target is this machine).
    remote = mkdtempSync(join(tmpdir(), 'gh-remote-'));
    chmodSync(remote, 0o777);
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    await scenario?.stop();
    echo?.close();
    rmSync(work, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  });

  test('exec: stdout, stderr and the exit status arrive separately', async () => {
    const r = await ssh('echo out; echo err >&2; exit 3');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
  });

  test('the offer: AES-GCM first (on CPUs with AES instructions), then chacha20 and AES-CTR, AES-CBC for old clients', async () => {
    // Stock OpenSSH lists chacha20-poly1305 first and gets it; a client that prefers AES-GCM gets that.
    const r = await ssh('true', { options: ['-v'] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /kex: server->client cipher: chacha20-poly1305@openssh\.com/);
    const gcm = await ssh('true', { options: ['-v', '-c', 'aes128-gcm@openssh.com,chacha20-poly1305@openssh.com'] });
    assert.equal(gcm.code, 0, gcm.stderr);
    const expected = cpuHasAes() ? 'aes128-gcm@openssh.com' : 'chacha20-poly1305@openssh.com';
    assert.match(gcm.stderr, new RegExp(`kex: client->server cipher: ${expected}`));
    for (const c of ['aes128-ctr', 'aes256-ctr', 'aes128-cbc,aes256-cbc']) {
      const old = await ssh('echo old-client', { options: ['-c', c] });
      assert.equal(old.stdout, 'old-client\n', `${c}: ${old.stderr}`);
    }
  });

  test('stdin and its EOF reach the command (cat ends, then the rest of the command runs)', async () => {
    const r = await ssh('cat; echo after-eof', { stdin: 'line one\nline two\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'line one\nline two\nafter-eof\n');
  });

  test('a command that ends before reading stdin still returns its status (ssh host cmd </dev/null)', async () => {
    const r = await ssh('exit 0');
    assert.equal(r.code, 0, r.stderr);
  });

  test('env requests are forwarded (SendEnv, accepted by the target\'s AcceptEnv)', async () => {
    const r = await runSsh({
      port: gh.port, knownHosts: gh.knownHosts, login: login(), command: 'echo "[$GH_PROBE]"', options: ['-o', 'SendEnv=GH_PROBE'],
    });
    assert.equal(r.stdout, '[]\n', 'GH_PROBE is unset here, so nothing is sent');
    process.env['GH_PROBE'] = 'carried-across';
    try {
      const r2 = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(), command: 'echo "[$GH_PROBE]"', options: ['-o', 'SendEnv=GH_PROBE'] });
      assert.equal(r2.stdout, '[carried-across]\n');
    } finally {
      delete process.env['GH_PROBE'];
    }
  });

  test('a real terminal: the no-echo answer is not shown, the echo one is; pty size, TERM and resizes reach the target', async () => {
    const t = new Terminal('ssh', [
      '-F', '/dev/null', '-tt', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PubkeyAuthentication=no', '-l', `${sshd.user}@tty`, '127.0.0.1',
    ], { cols: 101, rows: 31 });
    try {
      let at = await t.waitFor(/Token: /);
      t.type(`${SECRET}\r`);
      at = await t.waitFor(/Favourite colour: /, at);
      t.type('blue\r');
      at = await t.waitFor(/blue/, at);
      at = await t.waitFor(/\$ $/, at);
      assert.ok(!t.transcript.includes(SECRET), `the no-echo answer was echoed:\n${t.transcript}`);
      t.type('echo "term=$TERM"; stty size\r');
      at = await t.waitFor(/term=xterm-256color\r\n31 101\r\n/, at);
      t.resize(120, 40);
      await new Promise((r) => setTimeout(r, 200));
      t.type('stty size\r');
      at = await t.waitFor(/40 120\r\n/, at);
      t.type('exit 7\r');
      assert.equal(await t.exited, 7);
    } finally {
      t.kill();
    }
    const text = JSON.stringify(gh.logs);
    assert.ok(!text.includes(SECRET), 'the no-echo answer reached the log');
  });

  test('signals and exit signals (ssh2 client)', async () => {
    const c: Client = await connectClient(gh.port, login(), []);
    try {
      const killed = await exec(c, 'sleep 30', (ch) => setTimeout(() => ch.signal('KILL'), 300));
      assert.equal(killed.signal, 'SIGKILL');
      const self = await exec(c, 'kill -TERM $$');
      assert.equal(self.signal, 'SIGTERM');
      const fine = await exec(c, 'echo hi');
      assert.deepEqual([fine.stdout, fine.code], ['hi\n', 0]);
    } finally {
      c.end();
    }
  });

  test('local forwarding (ssh -W) goes through the target; a policy can forbid it', async () => {
    const r = await ssh('', { stdin: 'ping through a forward\n', options: ['-W', `127.0.0.1:${echoPort}`] });
    assert.equal(r.stdout, 'ping through a forward\n', r.stderr);
    const no = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=good@${sshd.user}@nofwd`, stdin: 'x\n', options: ['-W', `127.0.0.1:${echoPort}`] });
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /administratively prohibited|open failed/);
  });

  test('remote forwarding (ssh -R): the target listens, its connections reach the client\'s side', async () => {
    const port = await freePort();
    // The command runs on the target (this machine): it connects to the forwarded port and reads the echo.
    const probe = `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; printf "ping through a remote forward\\n" >&3; head -n1 <&3'`;
    const r = await ssh(probe, { options: ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${port}:127.0.0.1:${echoPort}`] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ping through a remote forward\n');
    await gh.waitFor('forwarded channel logged', () => gh.logs.some((l) => l.event === 'channel.close' && l['type'] === 'forwarded-tcpip'));
    assert.ok(gh.logs.some((l) => l.event === 'forward.open' && l['listen'] === `127.0.0.1:${port}`));
  });

  test('remote forwarding is refused where the policy allows none or only local forwards', async () => {
    for (const alias of ['nofwd', 'localfwd']) {
      const no = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `token=good@${sshd.user}@${alias}`, command: 'true', options: ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${await freePort()}:127.0.0.1:${echoPort}`] });
      assert.notEqual(no.code, 0, alias);
      assert.match(no.stderr, /remote port forwarding failed/, alias);
    }
    const local = await ssh('', { alias: 'localfwd', stdin: 'local still works\n', options: ['-W', `127.0.0.1:${echoPort}`] });
    assert.equal(local.stdout, 'local still works\n', local.stderr);
  });

  test('remote forwarding with port 0 reports the target\'s port, and a cancelled forward stops listening (ssh2 client)', async () => {
    const c: Client = await connectClient(gh.port, login(), []);
    try {
      const port = await new Promise<number>((resolve, reject) => c.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
      assert.ok(port > 0);
      const announced: number[] = [];
      c.on('tcp connection', (info, accept) => {
        announced.push(info.destPort);
        const ch = accept();
        ch.on('data', (d: Buffer) => ch.end(Buffer.from(d.toString().toUpperCase())));
      });
      const reply = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.write('hello from the target side'));
        let got = '';
        sock.on('data', (d: Buffer) => { got += d.toString(); });
        sock.on('end', () => resolve(got));
        sock.on('error', reject);
      });
      assert.equal(reply, 'HELLO FROM THE TARGET SIDE');
      assert.deepEqual(announced, [port]);
      await new Promise<void>((resolve, reject) => c.unforwardIn('127.0.0.1', port, (err) => (err ? reject(err) : resolve())));
      const refused = await new Promise<string>((resolve) => {
        const sock = connect(port, '127.0.0.1', () => { sock.destroy(); resolve('connected'); });
        sock.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      assert.equal(refused, 'ECONNREFUSED');
    } finally {
      c.end();
    }
  });

  test('Unix-socket forwarding both ways (ssh -L and -R with socket paths); a policy can forbid it', async () => {
    // A Unix-socket echo server on the target side (this machine), usable by the target user.
    const targetSock = join(remote, 'echo.sock');
    const unixEcho = createServer((c) => c.pipe(c));
    await new Promise<void>((r) => unixEcho.listen(targetSock, r));
    chmodSync(targetSock, 0o777);
    try {
      // -L local.sock:target.sock, with the real client kept running while the test connects to its socket.
      const through = await viaUnixTunnel(login(), join(work, 'local.sock'), targetSock, 'through a forwarded socket', gh);
      assert.equal(through.reply, 'through a forwarded socket', through.stderr);
      // Where the policy forbids it the client's socket still listens, but each connection is refused.
      const no = await viaUnixTunnel(login('nofwd'), join(work, 'no-local.sock'), targetSock, 'refused', gh);
      assert.equal(no.reply, '');
      assert.match(no.stderr, /open failed/);
      // -R target.sock:host:port, and a command on the target that talks to that socket.
      const fwdSock = join(remote, 'fwd.sock');
      const probe = `python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('${fwdSock}'); s.sendall(b'ping through a remote socket'); s.shutdown(socket.SHUT_WR); print(s.makefile().read())"`;
      const r = await ssh(probe, { options: ['-o', 'ExitOnForwardFailure=yes', '-R', `${fwdSock}:127.0.0.1:${echoPort}`] });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'ping through a remote socket\n');
      assert.ok(gh.logs.some((l) => l.event === 'channel.open' && l['type'] === 'direct-streamlocal'));
      assert.ok(gh.logs.some((l) => l.event === 'channel.open' && l['type'] === 'forwarded-streamlocal'));
      const noR = await ssh('true', { alias: 'nofwd', options: ['-o', 'ExitOnForwardFailure=yes', '-R', `${join(remote, 'no.sock')}:127.0.0.1:${echoPort}`] });
      assert.notEqual(noR.code, 0);
      assert.match(noR.stderr, /remote port forwarding failed/);
    } finally {
      unixEcho.close();
    }
  });

  test('256 MiB each way with scp, bounded memory, identical checksums', async () => {
    const local = join(work, 'big.bin');
    writeRandomFile(local, BIG);
    const sum = await sha256File(local);
    const up = await peakRssGrowth(() => runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login(), from: local, to: `127.0.0.1:${remote}/big.bin`, timeoutMs: 240_000 }));
    assert.equal(up.result.code, 0, up.result.stderr);
    assert.equal(await sha256File(join(remote, 'big.bin')), sum);
    assert.ok(up.growthMiB < 96, `memory grew by ${up.growthMiB.toFixed(1)} MiB during a 256 MiB upload`);
    rmSync(local);

    const back = join(work, 'back.bin');
    const down = await peakRssGrowth(() => runScp({ port: gh.port, knownHosts: gh.knownHosts, login: login(), from: `127.0.0.1:${remote}/big.bin`, to: back, timeoutMs: 240_000 }));
    assert.equal(down.result.code, 0, down.result.stderr);
    assert.equal(await sha256File(back), sum);
    assert.ok(down.growthMiB < 96, `memory grew by ${down.growthMiB.toFixed(1)} MiB during a 256 MiB download`);
    rmSync(back);
    rmSync(join(remote, 'big.bin'));
    await gh.waitFor('channel byte counts', () => gh.logs.some((l) => l.event === 'channel.close' && (l['bytesToTarget'] as number) > BIG));
  });

  test('sftp: put, ls, get, rm', async () => {
    const local = join(work, 'f.bin');
    writeRandomFile(local, 8 * 1024 * 1024 + 123);
    const r = await runSftp({
      port: gh.port, knownHosts: gh.knownHosts, login: login(),
      commands: `put ${local} ${remote}/f.bin\nls -l ${remote}\nget ${remote}/f.bin ${work}/g.bin\nrm ${remote}/f.bin\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /f\.bin/);
    assert.equal(await sha256File(join(work, 'g.bin')), await sha256File(local));
  });

  test('a stream through ssh: 64 MiB into a remote command that hashes it', async () => {
    const data = randomBytes(64 * 1024 * 1024);
    const r = await ssh('sha256sum', { stdin: data });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  });
});
