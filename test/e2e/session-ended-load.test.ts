import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'ssh2';
import { startScenario, type Scenario } from '../helpers/scenario.js';
import { connectClient } from '../helpers/ssh2-client.js';

// Issue 15: session_ended is never lost under load. 150 sessions on a Python plugin, at most 4 hook calls at
// once, each session_ended taking 800 ms: together they need far longer than the plugin timeout (10 s) to get
// a runner, and every one of them must still reach the plugin exactly once (the fixture records each call).

const SESSIONS = 150;
const WAVE = 10;

describe('session_ended under load', () => {
  let sc: Scenario;
  before(async () => {
    sc = await startScenario([{ alias: 'py', plugin: { fail: { hook: 'session_ended', how: 'slow', ms: 800 } } }], {
      plugin: 'scripted_py',
      extra: { timeouts: { proxy: 20 }, plugin_pool: { max_active: 4, warm_workers: 1 }, log_level: 'info' },
      sshdConfig: ['MaxStartups 300', 'MaxSessions 10'],
    });
  });
  after(async () => {
    await sc?.stop();
  });

  test(`${SESSIONS} sessions on a Python plugin ending at once all get session_ended exactly once`, async () => {
    const { gh, sshd } = sc;
    const clients: Client[] = [];
    try {
      // Logins in waves (the point is the burst of session ends, not a login flood).
      for (let i = 0; i < SESSIONS; i += WAVE) {
        clients.push(...await Promise.all(Array.from({ length: Math.min(WAVE, SESSIONS - i) }, () => connectClient(gh.port, `${sshd.user}@py`, ['good']))));
      }
      assert.equal(clients.length, SESSIONS);
    } finally {
      for (const c of clients) c.end();
    }
    await gh.closedSessions(SESSIONS, 240_000);
    const ended = gh.calls('session_ended');
    const perSession = new Map<string, number>();
    for (const c of ended) perSession.set(c.session_id, (perSession.get(c.session_id) ?? 0) + 1);
    const authenticated = new Set(gh.calls('authenticate').map((c) => c.session_id));
    assert.equal(authenticated.size, SESSIONS);
    for (const sid of authenticated) assert.equal(perSession.get(sid), 1, `session ${sid} got session_ended ${perSession.get(sid) ?? 0} times`);
    assert.equal(ended.length, SESSIONS);
    assert.ok(!gh.logs.some((l) => l.event === 'hook.session_ended_lost'));
  });
});
