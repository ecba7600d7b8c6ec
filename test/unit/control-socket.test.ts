import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { controlRequest } from '../../src/control/control-protocol.js';
import { ControlServer, localSessionControl } from '../../src/control/control-server.js';
import { createLogger } from '../../src/log/logger.js';
import type { SessionRegistry } from '../../src/session/registry.js';

// Issue 15: idle connections to the control socket must not lock the admin CLI out, and each connection has
// a deadline counted from accept, which a client trickling bytes cannot stretch.

const quiet = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));
const registry = localSessionControl({ list: () => [] } as unknown as SessionRegistry, quiet);

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.on('error', reject);
  });
}

const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

describe('control socket under many clients', () => {
  test('40 idle connections (and the default limits) do not keep the CLI from its answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-ctl-'));
    const path = join(dir, 'c.sock');
    const server = new ControlServer(path, registry, quiet);
    await server.listen();
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const s = await open(path);
        s.on('error', () => undefined);
        idle.push(s);
      }
      const replies = await Promise.all(Array.from({ length: 8 }, () => controlRequest(path, { command: 'sessions' }, 10_000)));
      for (const r of replies) assert.deepEqual(r, { ok: true, sessions: [] });
    } finally {
      for (const s of idle) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the deadline counts from accept: idle and trickling clients are cut; at the cap the oldest idle one goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-ctl-'));
    const path = join(dir, 'c.sock');
    const server = new ControlServer(path, registry, quiet, { deadlineMs: 800, maxPending: 4 });
    await server.listen();
    try {
      const started = Date.now();
      const trickler = await open(path);
      trickler.on('error', () => undefined);
      const timer = setInterval(() => trickler.write(' '), 100);
      const silent = await open(path);
      await Promise.all([closed(trickler), closed(silent)]);
      clearInterval(timer);
      const took = Date.now() - started;
      assert.ok(took >= 700 && took < 5_000, `cut after ${took} ms`);

      const first = await open(path);
      const others = await Promise.all([open(path), open(path), open(path)]);
      const fifth = await open(path); // over the cap: the oldest pending connection makes room
      await closed(first);
      assert.ok(!fifth.destroyed);
      assert.deepEqual(await controlRequest(path, { command: 'sessions' }, 5_000), { ok: true, sessions: [] });
      for (const s of [...others, fifth]) s.destroy();
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
