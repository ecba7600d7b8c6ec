import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Client as SshClient, Connection } from 'ssh2';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { runLogin, type LoginDeps } from '../../src/session/login.js';
import { buildRuntime, type Runtime } from '../../src/session/runtime.js';
import { Session } from '../../src/session/session.js';
import { chooseTarget } from '../../src/session/target-choice.js';
import { SqliteSessionStore } from '../../src/store/sqlite-store.js';
import { ROOT } from '../helpers/paths.js';

// The login flow on its own: the real demo_token plugin through the real plugin host, with the target choice
// and the upstream connection injected, so that no DNS, sshd or network is involved.

describe('login flow (injected target choice and upstream)', () => {
  let dir: string;
  let rt: Runtime;
  const log = pino({ level: 'silent' });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-login-'));
    const config = parseConfig(`listen: ["127.0.0.1:1"]
keys_dir: ${join(dir, 'keys')}
plugins_dir: ${join(ROOT, 'plugins')}
state_dir: ${join(dir, 'data')}
policies:
  - name: demo
    aa_plugin:
      name: demo_token
      configuration: "[demo]\\ntoken = sesame\\n"
    targets:
      allow:
        - hosts: [db01, 10.9.9.0/24]
    target_auth: {method: key}
`, join(dir, 'config.yaml'));
    rt = await buildRuntime(config, log, dir);
  });
  after(async () => {
    await rt.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const session = (): Session => {
    const conn = Object.assign(new EventEmitter(), { end: () => undefined }) as unknown as Connection;
    return new Session(conn, { ip: '127.0.0.1', port: 50000 }, rt, log, { store: SqliteSessionStore.open(join(dir, 's.db')), instance: 'test', admit: () => undefined, onClosed: () => undefined });
  };
  const fakeUpstream = { end: () => undefined } as unknown as SshClient;
  const deps = (calls: string[]): LoginDeps => ({
    chooseTarget: (cfg, request) => chooseTarget(cfg, request, async (host) => {
      calls.push(`resolve ${host}`);
      return host === 'db01' ? '10.9.9.9' : '192.0.2.1';
    }),
    connectUpstream: async (o) => {
      calls.push(`connect ${o.username}@${o.target.address}:${o.target.port}`);
      return fakeUpstream;
    },
  });
  const answers = (table: Record<string, string>, asked: string[]) => ({
    ask: async (prompt: string, echo: boolean) => {
      asked.push(`${prompt}|${echo ? 'echo' : 'noecho'}`);
      const key = Object.keys(table).find((k) => prompt.startsWith(k));
      if (!key) throw new Error(`unexpected prompt ${prompt}`);
      return table[key]!;
    },
  });

  test('a right answer gives a frozen grant for the chosen target, connected through the injected upstream', async () => {
    const calls: string[] = [];
    const asked: string[] = [];
    const s = session();
    const grant = await runLogin(s, 'root@db01', answers({ 'Demo token': 'sesame' }, asked), deps(calls));
    assert.ok(Object.isFrozen(grant));
    assert.equal(grant.serverUser, 'root');
    assert.equal(grant.policy.name, 'demo');
    assert.deepEqual([grant.target.name, grant.target.address, grant.target.port], ['db01', '10.9.9.9', 22]);
    assert.equal(grant.upstream, fakeUpstream);
    assert.deepEqual(asked, ['Demo token (hint: gatehouse): |noecho']);
    assert.deepEqual(calls, ['resolve db01', 'connect root@10.9.9.9:22']);
    assert.equal(s.phase, 'login', 'only activate(grant) makes the session active');
    assert.deepEqual(s.journal.snapshot().verdicts.map((v) => `${v.hook}:${v.verdict}`), ['authenticate:NEEDINFO', 'authenticate:ACCEPT', 'authorize:ACCEPT']);
  });

  test('a pre-answered question is not asked', async () => {
    const asked: string[] = [];
    const grant = await runLogin(session(), 'token=sesame@root@db01', answers({}, asked), deps([]));
    assert.equal(grant.serverUser, 'root');
    assert.deepEqual(asked, []);
  });

  test('a wrong answer three times is denied with the plugin reason, and the target is never contacted', async () => {
    const calls: string[] = [];
    const err = await runLogin(session(), 'root@db01', answers({ 'Demo token': 'nope' }, []), deps(calls)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BastionError);
    assert.equal(err.code, 'DENIED_BY_PLUGIN');
    assert.equal(err.userMessage, 'Wrong token three times; access denied.');
    // db01 is admitted by name: it is resolved only after authentication, so a refused login never resolves it.
    assert.deepEqual(calls, []);
  });

  test('a target no policy allows is refused before any plugin runs', async () => {
    const s = session();
    const err = await runLogin(s, 'root@elsewhere', answers({}, []), deps([])).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BastionError);
    assert.equal(err.code, 'TARGET_NOT_ALLOWED');
    assert.deepEqual(s.journal.snapshot().verdicts, []);
  });
});
