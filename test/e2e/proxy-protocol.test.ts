import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { runSsh } from '../helpers/openssh.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';

// Gatehouse behind the real HAProxy in TCP mode: the PROXY header (v2 and v1) carries the real client's
// address to plugins, logs and the session list; a header from anyone but the load balancer is refused, and
// so is a connection from the load balancer's address without one.

const SECRET = 'Proxy-Token-5521';

/** A known_hosts for reaching Gatehouse's host keys under another port (the load balancer's). */
function knownHostsFor(src: string, fromPort: number, toPort: number, dir: string): string {
  const file = join(dir, `known_hosts_${toPort}`);
  writeFileSync(file, readFileSync(src, 'utf8').split(`[127.0.0.1]:${fromPort} `).join(`[127.0.0.1]:${toPort} `));
  return file;
}

/** Sends a PROXY v1 header naming `client`, then an SSH identification line; resolves with the first bytes Gatehouse
 * sends back ('' when it closes without any) and hangs up, as a client that never logs in. */
function identifyAs(port: number, client: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    s.setTimeout(20_000, () => s.destroy(new Error('no answer and no close')));
    s.on('connect', () => s.write(`PROXY TCP4 ${client} 127.0.0.1 40000 22\r\nSSH-2.0-OpenSSH_9.2\r\n`));
    s.on('data', (d: Buffer) => { resolve(d.toString('latin1')); s.destroy(); });
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve('') : reject(e)));
    s.on('close', () => resolve(''));
  });
}

/** Connects from `localAddress`, writes `data`, and returns what came back before the connection closed. */
function probe(port: number, localAddress: string, data: string | Buffer | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    s.setTimeout(20_000, () => s.destroy(new Error('the connection was left open')));
    s.on('connect', () => { if (data !== undefined) s.write(data); });
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
    s.on('close', () => resolve(got));
  });
}

describe('PROXY protocol behind HAProxy', () => {
  let scenario: Scenario;
  let haproxy: Haproxy;
  const login = (user: string): string => `token=${SECRET}@${user}@tgt`;

  before(async () => {
    scenario = await startScenario([{ alias: 'tgt', plugin: { expect: { token: SECRET } } }], {
      extra: {
        listen: [{ address: '127.0.0.1:0', proxy_protocol: { trusted: ['127.0.0.1'], header_timeout: 1.5 } }],
        // One connection that leaves without logging in makes its source's penalty active (min is 15 s); the
        // load balancer's own address is exempt, as the helper's default is.
        penalties: { exempt: ['127.0.0.1'], noauth: 20 },
      },
    });
    haproxy = await startHaproxy([{ proxy: 'v2', backends: [scenario.gh.port] }, { proxy: 'v1', backends: [scenario.gh.port] }]);
  });
  after(async () => {
    await haproxy?.stop();
    await scenario?.stop();
  });

  for (const [i, version, source] of [[0, 'v2', '127.0.0.5'], [1, 'v1', '127.0.0.6']] as const) {
    test(`ssh through HAProxy (send-proxy${version === 'v2' ? '-v2' : ''}): the target is reached and the plugin sees the real client`, async () => {
      const { gh, sshd } = scenario;
      const port = haproxy.ports[i]!;
      const r = await runSsh({
        port, knownHosts: knownHostsFor(gh.knownHosts, gh.port, port, gh.dir), login: login(sshd.user),
        options: ['-b', source], command: 'echo through-$((40+2))', timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `${r.stderr}\n${haproxy.output()}`);
      assert.equal(r.stdout.trim(), 'through-42');
      const auth = gh.calls('authenticate').filter((c) => c.args['client_ip'] === source);
      assert.equal(auth.length, 1, JSON.stringify(gh.calls('authenticate').map((c) => c.args['client_ip'])));
      const sid = auth[0]!.session_id;
      assert.ok(gh.logs.some((l) => l.sid === sid && l.event === 'session.connect' && JSON.stringify(l).includes(source)), 'the log names the real client');
      assert.ok(gh.logs.some((l) => l.event === 'proxy.header' && l['ip'] === source && l['via'] === '127.0.0.1' && l['version'] === (version === 'v2' ? 2 : 1)));
    });
  }

  test('a live session lists the real client address', async () => {
    const { gh, sshd } = scenario;
    const port = haproxy.ports[0]!;
    const running = runSsh({
      port, knownHosts: knownHostsFor(gh.knownHosts, gh.port, port, gh.dir), login: login(sshd.user),
      options: ['-b', '127.0.0.7'], command: 'sleep 60', timeoutMs: 90_000,
    });
    await gh.waitFor('the session from 127.0.0.7', () => gh.app.registry.list().some((s) => s.client.ip === '127.0.0.7' && s.phase === 'active'), 30_000);
    const s = gh.app.registry.list().find((x) => x.client.ip === '127.0.0.7')!;
    await s.close('terminated');
    await running;
  });

  test('a PROXY header from a source that is not a trusted load balancer is refused before SSH starts', async () => {
    const { gh } = scenario;
    const before = gh.logs.length;
    const got = await probe(gh.port, '127.0.0.5', 'PROXY TCP4 198.51.100.1 127.0.0.1 40000 22\r\nSSH-2.0-OpenSSH_9.2\r\n');
    assert.equal(got, '', 'no SSH banner is sent');
    await gh.waitFor('the refusal to be logged', () => gh.logs.slice(before).some((l) => l.event === 'proxy.refused' && l['ip'] === '127.0.0.5' && /not a trusted/.test(String(l['reason']))));
    assert.ok(!gh.logs.slice(before).some((l) => JSON.stringify(l).includes('198.51.100.1')), 'the claimed address is never believed');
  });

  test('a trusted source that sends no header is refused: a real ssh straight to the listener fails', async () => {
    const { gh, sshd } = scenario;
    const before = gh.logs.length;
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login(sshd.user), command: 'true', timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    await gh.waitFor('the refusal to be logged', () => gh.logs.slice(before).some((l) => l.event === 'proxy.refused' && l['ip'] === '127.0.0.1' && /does not start with a PROXY/.test(String(l['reason']))));
    assert.ok(!gh.logs.slice(before).some((l) => l.event === 'session.connect'));
  });

  test('a trusted source that stays silent is cut off at header_timeout', async () => {
    const { gh } = scenario;
    const started = performance.now();
    const got = await probe(gh.port, '127.0.0.1', undefined);
    const ms = performance.now() - started;
    assert.equal(got, '');
    assert.ok(ms >= 1_400 && ms < 15_000, `closed after ${ms} ms`);
    assert.ok(gh.logs.some((l) => l.event === 'proxy.refused' && /within 1500 ms/.test(String(l['reason']))));
  });

  test('admission and penalties judge the real client from the PROXY header, not the load balancer', async () => {
    const { gh } = scenario;
    const before = gh.logs.length;
    assert.match(await identifyAs(gh.port, '198.51.100.7'), /^SSH-2\.0-/);
    await gh.waitFor('the penalty of the real client', () => gh.logs.slice(before).some((l) => l.event === 'penalty.active' && l['ip'] === '198.51.100.7'));
    // The same client again, through the same load balancer: refused at admission, before any SSH byte.
    assert.equal(await identifyAs(gh.port, '198.51.100.7'), '');
    await gh.waitFor('the drop to be logged', () => gh.logs.slice(before).some((l) => l.event === 'connection.dropped' && l['rule'] === 'penalty' && l['ip'] === '198.51.100.7'));
    // Another client behind the same load balancer is not penalised with it.
    assert.match(await identifyAs(gh.port, '198.51.100.8'), /^SSH-2\.0-/);
    assert.ok(!gh.logs.slice(before).some((l) => l.event === 'connection.dropped' && l['ip'] !== '198.51.100.7'));
  });
});
