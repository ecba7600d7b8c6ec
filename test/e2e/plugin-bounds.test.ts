import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'ssh2';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, scenarioPolicies, targetKnownHosts, type PolicySpec } from '../helpers/scenario.js';
import { connectClient, exec } from '../helpers/ssh2-client.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// Issue 15, plugin bounds: each breach (memory, output, prompt size, a forged answer) is a coded error that
// denies that login only, while a session already logged in through Gatehouse keeps answering.

const breaches: { alias: string; py?: boolean; fail: Record<string, unknown>; code: string }[] = [
  { alias: 'js-flood', fail: { how: 'flood', mb: 20 }, code: 'PLUGIN_OUTPUT_LIMIT' },
  { alias: 'py-flood', py: true, fail: { how: 'flood', mb: 20 }, code: 'PLUGIN_OUTPUT_LIMIT' },
  { alias: 'js-alloc', fail: { how: 'alloc', mb: 2048 }, code: 'PLUGIN_MEMORY_LIMIT' },
  { alias: 'py-alloc', py: true, fail: { how: 'alloc', mb: 1024 }, code: 'PLUGIN_MEMORY_LIMIT' },
  { alias: 'js-prompt', fail: { how: 'big_prompt', bytes: 1024 * 1024 }, code: 'PLUGIN_PROMPT_TOO_LARGE' },
  { alias: 'py-prompt', py: true, fail: { how: 'big_prompt', bytes: 1024 * 1024 }, code: 'PLUGIN_PROMPT_TOO_LARGE' },
  // A forged ACCEPT: JavaScript plugins cannot reach the runner's port; a Python helper cannot reach the
  // answer descriptor (the plugin's own DENY stands); the plugin itself lacks the call's nonce.
  { alias: 'js-forge', fail: { how: 'forge' }, code: 'PLUGIN_THREW' },
  { alias: 'py-forge-helper', py: true, fail: { how: 'forge_helper' }, code: 'DENIED_BY_PLUGIN' },
  { alias: 'py-forge-self', py: true, fail: { how: 'forge_self' }, code: 'PLUGIN_BAD_RESULT' },
];

describe('plugin bounds', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let parallel: Client;
  let sessions = 0;
  const specs: PolicySpec[] = [
    { alias: 'ok', plugin: {} },
    ...breaches.map((b) => ({ alias: b.alias, plugin: { fail: { hook: 'authenticate', ...b.fail } }, ...(b.py ? { pluginName: 'scripted_py' } : {}) })),
  ];

  before(async () => {
    sshd = await startSshd({ password: false });
    gh = await startGatehouse({
      plugins: ['scripted', 'scripted_py'],
      policies: (ctx) => scenarioPolicies(ctx, sshd, specs),
      extra: () => ({
        hosts: scenarioHosts(sshd, specs),
        log_level: 'info',
        plugin_pool: { warm_workers: 1, address_space_mb: 512, js_external_mb: 256, output_call_bytes: 1048576, output_line_bytes: 4096, prompt_bytes: 4096 },
      }),
      files: () => targetKnownHosts(sshd),
    });
    sshd.authorize(gh.clientKeyLine);
    sessions++;
    parallel = await connectClient(gh.port, `${sshd.user}@ok`, ['good']);
  });
  after(async () => {
    parallel?.end();
    await gh?.stop();
    await sshd?.stop();
  });

  for (const b of breaches) {
    test(`${b.alias}: ${b.code} denies that login only`, async () => {
      let done = false;
      let slowest = 0;
      const pings = (async () => {
        // The parallel session answers throughout.
        while (!done) {
          const t = performance.now();
          const r = await exec(parallel, 'echo alive');
          assert.equal(r.stdout, 'alive\n');
          slowest = Math.max(slowest, performance.now() - t);
        }
      })();
      sessions++;
      const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${b.alias}`, answers: ['good'], command: 'id -un' }).finally(() => { done = true; });
      await pings;
      assert.equal(r.code, 255, r.stderr);
      assert.doesNotMatch(r.stderr, /Bad packet length|Connection reset/);
      const closed = (await gh.closedSessions(sessions - 1)).filter((l) => l['policy'] === b.alias);
      assert.equal(closed.length, 1);
      assert.equal(closed[0]!.code, b.code, JSON.stringify(gh.logs.filter((l) => l['policy'] === b.alias && l.level === 'error')));
      assert.ok(slowest < 5_000, `the parallel session took ${Math.round(slowest)} ms to answer`);
      // No log line carries the flood.
      const longest = Math.max(...gh.logs.map((l) => JSON.stringify(l).length));
      assert.ok(longest < 16_384, `a log line of ${longest} bytes`);
    });
  }

  test('the parallel session is still there at the end', async () => {
    assert.equal((await exec(parallel, 'id -un')).stdout.trim(), sshd.user);
  });
});
