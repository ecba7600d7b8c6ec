import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import { connectClient, exec } from '../helpers/ssh2-client.js';
import type { Sshd } from '../helpers/sshd.js';

// Hostile or unusual peers must not take Gatehouse down or lose data: junk on the wire at the login limit,
// exit signals ssh2 cannot name, a client that leaves while the target floods stderr, half-closed forwards.

const SPECS: PolicySpec[] = [{ alias: 'tgt', plugin: {} }];

describe('robustness', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let halfClose: Server;
  let halfClosePort: number;
  let received = 0;
  const login = `token=good@${'${user}'}@tgt`;
  const ssh = (command: string, extra: { stdin?: string | Buffer; options?: string[] } = {}) =>
    runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login.replace('${user}', sshd.user), command, ...extra });
  const alive = async (): Promise<void> => {
    const r = await ssh('echo alive');
    assert.equal(r.stdout, 'alive\n', r.stderr);
  };

  let scenario: Scenario | undefined;
  before(async () => {
    scenario = await startScenario(SPECS, { extra: { limits: { max_unauthenticated: 2 } } });
    ({ sshd, gh } = scenario);
    // Greets, half-closes at once, and keeps reading what the client sends until its EOF.
    halfClose = createServer((sock: Socket) => {
      sock.end('hello, I am done talking\n');
      sock.on('data', (d: Buffer) => { received += d.length; });
    });
    await new Promise<void>((r) => halfClose.listen(0, '127.0.0.1', r));
    halfClosePort = (halfClose.address() as { port: number }).port;
  });
  after(async () => {
    await scenario?.stop();
    halfClose?.close();
  });

  test('junk on the wire, at and beyond the login limit, never takes Gatehouse down', async () => {
    const open = (payload: Buffer): Promise<void> => new Promise((resolve) => {
      const s = connect(gh.port, '127.0.0.1', () => s.write(payload));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      setTimeout(() => { s.destroy(); resolve(); }, 1500);
    });
    const ident = Buffer.from('SSH-2.0-junk\r\n');
    // Fill the two login slots with connections that never finish, then send junk on more.
    const holders = [connect(gh.port, '127.0.0.1'), connect(gh.port, '127.0.0.1')];
    for (const h of holders) { h.on('error', () => undefined); h.write(ident); }
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([
      open(Buffer.concat([ident, randomBytes(4096)])),
      open(Buffer.concat([ident, Buffer.alloc(64, 0xff)])),
      open(randomBytes(1024)),
    ]);
    assert.ok(gh.logs.some((l) => l.event === 'connection.dropped'));
    for (const h of holders) h.destroy();
    await new Promise((r) => setTimeout(r, 300));
    await alive();
  });

  test('an exit signal ssh2 cannot name (sshd reports SIGBUS as "SIG@openssh.com") ends the command as OpenSSH would', async () => {
    const r = await ssh('kill -BUS $$');
    assert.equal(r.code, 255); // what ssh prints for any exit signal, with or without Gatehouse
    await alive();
  });

  test('a client that closes its channel while the target floods stderr', async () => {
    const c = await connectClient(gh.port, login.replace('${user}', sshd.user), []);
    try {
      await new Promise<void>((resolve, reject) => {
        c.exec('while :; do echo flooding-stderr-flooding-stderr >&2; done', (err, ch) => {
          if (err) return reject(err);
          ch.resume();
          ch.stderr.once('data', () => setTimeout(() => ch.close(), 100));
          ch.on('close', () => resolve());
        });
      });
      const after2 = await exec(c, 'echo still-here');
      assert.equal(after2.stdout, 'still-here\n');
    } finally {
      c.end();
    }
    await alive();
  });

  test('a forward whose far end half-closes still carries what the client sends after that EOF (ssh2 client)', async () => {
    // OpenSSH's own ssh -W gives up at the far end's EOF, so an ssh2 client drives this one.
    received = 0;
    const payload = randomBytes(1024 * 1024);
    const c = await connectClient(gh.port, login.replace('${user}', sshd.user), []);
    try {
      const greeting = await new Promise<string>((resolve, reject) => {
        c.forwardOut('127.0.0.1', 5555, '127.0.0.1', halfClosePort, (err, ch) => {
          if (err) return reject(err);
          let text = '';
          ch.on('data', (d: Buffer) => { text += d.toString(); });
          // Only after the far end's EOF does the client send its data.
          ch.once('end', () => {
            ch.end(payload);
            resolve(text);
          });
        });
      });
      assert.equal(greeting, 'hello, I am done talking\n');
      await gh.waitFor('all bytes at the far end', () => received === payload.length, 10_000);
    } finally {
      c.end();
    }
  });
});
