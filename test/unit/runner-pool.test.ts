import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RunnerPool } from '../../src/plugins/runner-pool.js';
import { Runner, type RunnerMessage, type Transport } from '../../src/plugins/runner.js';

// The runner pool with fake runners: how it grows under a burst, serves calls after close(), and fails calls
// promptly when a runner cannot start or never finishes loading.

interface Fake {
  transport: Transport;
  killed: boolean;
}

function fake(opts: { answerMs?: number; ready?: boolean } = {}): Fake {
  let onMessage: (m: RunnerMessage) => void = () => undefined;
  const f: Fake = {
    killed: false,
    transport: {
      send: (c) => void setTimeout(() => onMessage({ type: 'result', json: '{"verdict":"ACCEPT"}', nonce: c.nonce }), opts.answerMs ?? 1),
      kill: () => { f.killed = true; },
      onMessage: (fn) => {
        onMessage = fn;
        if (opts.ready !== false) setTimeout(() => fn({ type: 'ready', hooks: ['authenticate'] }), 5);
      },
      onFailure: () => undefined,
      onOutput: () => undefined,
    },
  };
  return f;
}

const ctx = { sessionId: 's', hook: 'authenticate' };
const call = { hook: 'authenticate', configuration: '', args: {} };

describe('RunnerPool', () => {
  test('a burst of quick calls is served by a handful of runners, not one each', async () => {
    const started: Fake[] = [];
    const pool = new RunnerPool(() => { const f = fake(); started.push(f); return new Runner(f.transport, () => undefined, true); }, { warm: 1, maxActive: 64, reusable: true });
    const results = await Promise.all(Array.from({ length: 50 }, () => pool.call(call, ctx, 5000)));
    assert.ok(results.every((r) => r.ok));
    assert.ok(started.length <= 5, `${started.length} runners started`);
    pool.close(true);
  });

  test('calls waiting when the pool is closed (a reload) are still served, and the runners end afterwards', async () => {
    const started: Fake[] = [];
    const pool = new RunnerPool(() => { const f = fake({ answerMs: 20 }); started.push(f); return new Runner(f.transport, () => undefined, true); }, { warm: 0, maxActive: 1, reusable: true });
    const calls = Array.from({ length: 3 }, () => pool.call(call, ctx, 5000));
    pool.close();
    const results = await Promise.all(calls);
    assert.deepEqual(results.map((r) => r.ok), [true, true, true]);
    assert.ok(started.length <= 3, `${started.length} runners started`);
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(started.every((f) => f.killed));
  });

  test('a runner that cannot be started fails its call at once, and the pool goes on', async () => {
    let fail = true;
    const pool = new RunnerPool(() => {
      if (fail) throw new Error('EMFILE: too many open files');
      return new Runner(fake().transport, () => undefined, true);
    }, { warm: 0, maxActive: 4, reusable: true });
    const started = Date.now();
    const r = await pool.call(call, ctx, 5000);
    assert.equal(r.ok ? 'ok' : r.code, 'PLUGIN_CRASHED');
    assert.match(r.ok ? '' : r.message, /cannot start a plugin runner: EMFILE/);
    assert.ok(Date.now() - started < 1000);
    fail = false;
    assert.ok((await pool.call(call, ctx, 5000)).ok);
    pool.close(true);
  });

  test('a runner that never finishes loading is ended at the load deadline, and its call told why', async () => {
    const f = fake({ ready: false });
    const runner = new Runner(f.transport, () => undefined, true, 100);
    const r = await runner.run(call, ctx, 5000);
    assert.equal(r.ok ? 'ok' : r.code, 'PLUGIN_CRASHED');
    assert.match(r.ok ? '' : r.message, /did not finish loading/);
    assert.ok(f.killed);
  });

  test('warm runners: reusable ones in use count, so sequential calls start no more', async () => {
    const started: Fake[] = [];
    const pool = new RunnerPool(() => { const f = fake(); started.push(f); return new Runner(f.transport, () => undefined, true); }, { warm: 2, maxActive: 8, reusable: true });
    for (let i = 0; i < 20; i++) assert.ok((await pool.call(call, ctx, 5000)).ok);
    assert.equal(started.length, 2);
    pool.close(true);
  });
});
