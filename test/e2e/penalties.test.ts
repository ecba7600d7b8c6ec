import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { CLI } from '../helpers/paths.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// Penalties as OpenSSH's PerSourcePenalties: a brute-force run from 127.0.0.3 with the real OpenSSH client
// is refused early once its penalty time reaches `min`, and logged, while 127.0.0.1 logs in; an exempt
// address is never refused; `gatehouse penalties` lists and clears them. The cap on failed answers per
// connection (max_auth_tries) ends a connection that keeps giving wrong target passwords.

const SECRET = 'Right-Token-5521';
const SPECS: PolicySpec[] = [
  { alias: 'tgt', plugin: { expect: { token: SECRET }, max_tries: 1 } },
  { alias: 'pw', targetAuth: { method: 'password' } },
];
const run = promisify(execFile);

describe('penalties for sources that fail, and the cap on failed answers', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const ssh = (from: string, answers: string[], alias = 'tgt') => runSsh({
    port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${alias}`, answers, command: 'echo in', options: ['-b', from],
  });
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', gh.configFile]);

  before(async () => {
    scenario = await startScenario(SPECS, {
      password: true,
      extra: {
        // authfail 5 s, min 15 s: the third denied login makes the penalty active.
        penalties: { exempt: ['127.0.0.4'] },
        limits: { max_auth_tries: 3, auth_failure_delay: 0.2, target_password_tries: 10 },
      },
    });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('a brute-force run from 127.0.0.3 is refused at accept and logged; 127.0.0.1 still logs in', async () => {
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await ssh('127.0.0.3', ['guess-1', 'guess-2']));
    assert.ok(results.every((r) => r.code !== 0));
    // The first ones reached the plugin and were denied; once the penalty time left reached min (15 s: three or
    // four denials, as penalty time runs down meanwhile), the source was refused before any SSH work.
    const denied = gh.logs.filter((l) => l.event === 'auth.deny' && l.ip === '127.0.0.3');
    assert.ok(denied.length >= 3 && denied.length <= 4, JSON.stringify(denied.map((l) => l.code)));
    assert.ok(denied.every((l) => l.code === 'DENIED_BY_PLUGIN'));
    const active = gh.logs.find((l) => l.event === 'penalty.active');
    assert.equal(active?.source, '127.0.0.3/32');
    const drops = gh.logs.filter((l) => l.event === 'connection.dropped' && l.rule === 'penalty');
    assert.equal(drops.length, 6 - denied.length);
    assert.ok(drops.every((l) => l.ip === '127.0.0.3'));
    assert.ok(results.slice(denied.length).every((r) => /Connection (closed|reset)|kex_exchange_identification/.test(r.stderr)), results.at(-1)!.stderr);

    const ok = await ssh('127.0.0.1', [SECRET]);
    assert.equal(ok.stdout, 'in\n', ok.stderr);

    const listed = await cli('penalties', '--json');
    const list = JSON.parse(listed.stdout) as { source: string; active: boolean }[];
    assert.deepEqual(list.map((p) => [p.source, p.active]), [['127.0.0.3/32', true]]);
    assert.match((await cli('penalties')).stdout, /^SOURCE .*\n127\.0\.0\.3\/32 +yes/);

    assert.equal((await cli('penalties', '--clear', '127.0.0.3')).stdout, 'cleared 127.0.0.3/32\n');
    assert.ok(gh.logs.some((l) => l.event === 'penalty.cleared'));
    const again = await ssh('127.0.0.3', [SECRET]);
    assert.equal(again.stdout, 'in\n', again.stderr);
  });

  test('an exempt address earns no penalty', async () => {
    for (let i = 0; i < 4; i++) await ssh('127.0.0.4', ['guess']);
    const r = await ssh('127.0.0.4', [SECRET]);
    assert.equal(r.stdout, 'in\n', r.stderr);
    assert.ok(!gh.logs.some((l) => String(l.event).startsWith('penalty.') && l.ip === '127.0.0.4'));
  });

  test('max_auth_tries ends a connection that keeps giving wrong target passwords, after a delay for each', async () => {
    const started = Date.now();
    const r = await ssh('127.0.0.5', ['wrong-1', 'wrong-2', 'wrong-3', 'wrong-4', 'wrong-5'], 'pw');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Too many authentication failures/);
    const failures = gh.logs.filter((l) => l.event === 'auth.failure' && l.ip === '127.0.0.5');
    assert.deepEqual(failures.map((l) => l.failures), [1, 2, 3]);
    assert.ok(gh.logs.some((l) => l.event === 'auth.deny' && l.code === 'TOO_MANY_AUTH_FAILURES' && l.ip === '127.0.0.5'));
    // Delays of 0.2 s and 0.4 s after the first two failures.
    assert.ok(Date.now() - started >= 600);
  });
});
