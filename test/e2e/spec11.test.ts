import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { FIXTURE_AA_PLUGINS, type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';

// Edge cases of spec section 11 that concern what a plugin receives or returns, for the JavaScript fixture and
// its Python twin. (The other items are covered where their subject lives; docs/spec-coverage.md lists all.)

const SPECS: PolicySpec[] = [
  { alias: 'echo', plugin: { questions: [['visible', 'Echoed: '], ['hidden', 'Hidden: ', true], ['zero', 'Zero: ', 0]], expect: {} } },
  { alias: 'half-identity', plugin: { expect: {}, questions: [], gateway: { user: 'alice' } } },
  { alias: 'plain', plugin: { expect: {}, questions: [] } },
  { alias: 'no-cookie', plugin: { authorize: { verdict: 'ACCEPT' }, authorize_raw: true } },
];

for (const plugin of FIXTURE_AA_PLUGINS) describe(`spec 11 edge cases [${plugin}]`, () => {
  let sshd: Sshd;
  let gh: Gatehouse;

  let scenario: Scenario | undefined;
  before(async () => {
    scenario = await startScenario(SPECS, { plugin: plugin });
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('spec 11.6: a 2-element question echoes, a truthy 3rd element turns echo off, a falsy one keeps it on', async () => {
    const seen: { prompt: string; echo: boolean }[] = [];
    await new Promise<void>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => {
        seen.push(...prompts.map((p) => ({ prompt: p.prompt, echo: Boolean(p.echo) })));
        finish(prompts.map(() => 'x'));
      });
      c.once('ready', () => { c.end(); resolve(); });
      c.once('error', reject);
      c.connect({ host: '127.0.0.1', port: gh.port, username: `${sshd.user}@echo`, tryKeyboard: true, hostVerifier: () => true });
    });
    assert.deepEqual(seen, [
      { prompt: 'Echoed: ', echo: true },
      { prompt: 'Hidden: ', echo: false },
      { prompt: 'Zero: ', echo: true },
    ]);
  });

  test('spec 11.11: gateway_user without gateway_groups does not change the gateway identity', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@half-identity`, command: 'true' });
    assert.equal(r.code, 0, r.stderr);
    const sid = gh.calls('authenticate').at(-1)!.session_id;
    const authz = gh.calls('authorize').find((c) => c.session_id === sid)!;
    assert.equal(authz.args['gateway_user'], null);
    assert.deepEqual(authz.args['gateway_groups'], []);
    assert.ok(gh.logs.some((l) => l.sid === sid && l.event === 'hook.warning' && /must come together/.test(l.msg)));
  });

  test('spec 11.13, 11.14: authenticate\'s cookie reaches authorize and session_ended; a result without cookie keeps it', async () => {
    const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@no-cookie`, answers: ['good'], command: 'true' });
    assert.equal(r.code, 0, r.stderr);
    const sid = gh.calls('authenticate').at(-1)!.session_id;
    const accepted = { tries: {}, asked: 1, accepted: true };
    assert.deepEqual(gh.calls('authorize').find((c) => c.session_id === sid)!.args['cookie'], accepted);
    await gh.waitFor('session_ended', () => gh.calls('session_ended').some((c) => c.session_id === sid));
    assert.deepEqual(gh.calls('session_ended').find((c) => c.session_id === sid)!.args['cookie'], accepted);
  });

  test('spec 11.24, 11.25, 11.26: session ids are UUIDs (no "/" or ":"), protocol is "ssh", user-name pairs stay in key_value_pairs', async () => {
    const r = await runSsh({
      port: gh.port, knownHosts: gh.knownHosts, command: 'true',
      login: `server_username=mallory@client_ip=6.6.6.6@protocol=telnet@${sshd.user}@plain`,
    });
    assert.equal(r.code, 0, r.stderr);
    const auth = gh.calls('authenticate').at(-1)!.args;
    assert.match(String(auth['session_id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(auth['protocol'], 'ssh');
    assert.equal(auth['server_username'], sshd.user);
    assert.equal(auth['client_ip'], '127.0.0.1');
    assert.deepEqual(auth['key_value_pairs'], { server_username: 'mallory', client_ip: '6.6.6.6', protocol: 'telnet' });
  });
});
