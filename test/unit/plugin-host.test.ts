import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BastionError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { PluginHost } from '../../src/plugins/plugin-host.js';

// Loading plugins (refused with the reason) and calling hooks: JavaScript in context workers, Python in a
// process per call.

const MANIFEST = (name: string, extra = '') => `name: ${name}\ndescription: test\nversion: 1.0.0\ntype: aa\napi: 1.2\n${extra}`;
const ESM = '{ "type": "module" }';

describe('PluginHost', () => {
  let dir: string;
  let host: PluginHost;
  const lines: Record<string, unknown>[] = [];

  const plugin = (name: string, files: Record<string, string>): void => {
    mkdirSync(join(dir, 'plugins', name), { recursive: true });
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, 'plugins', name, f)), { recursive: true });
      writeFileSync(join(dir, 'plugins', name, f), text);
    }
  };
  const refused = async (name: string, code: string, message: RegExp): Promise<void> => {
    await assert.rejects(host.load(name, 'aa'), (err: unknown) => {
      assert.ok(err instanceof BastionError);
      assert.equal(err.code, code);
      assert.match(err.message, message);
      return true;
    });
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-plugins-'));
    const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
    host = new PluginHost({
      pluginsDir: join(dir, 'plugins'), stateDir: join(dir, 'data'), ephemeralDir: join(dir, 'run'),
      warmWorkers: 1, maxActive: 8, memoryMb: 64, python: '/usr/bin/python3', log: createLogger('debug', sink),
    });
    plugin('counter', {
      MANIFEST: MANIFEST('counter'), 'package.json': ESM,
      'lib.js': 'let n = 0;\nexport function bump() { return ++n; }\n',
      'main.js': `import { bump } from './lib.js';
import { createHash } from 'node:crypto';
let calls = 0;
export class Plugin {
  constructor(configuration) { this.configuration = configuration; }
  authenticate(args) {
    calls++;
    globalThis.seen = (globalThis.seen ?? 0) + 1;
    console.log('hello from', args.session_id);
    return { verdict: 'ACCEPT', calls, lib: bump(), seen: globalThis.seen, configuration: this.configuration,
      plainArgs: args instanceof Object && Array.isArray(args.list ?? []), hash: createHash('sha1').update('x').digest('hex').slice(0, 6),
      state: process.env.SCB_PLUGIN_STATE_DIRECTORY, ephemeral: process.env.EPHEMERAL_PLUGIN_STATE_DIRECTORY };
  }
  authorize() { for (;;) {} }
  session_ended() { return undefined; }
}`,
    });
    // A call that leaves a promise nobody handles, rejected while a later call (another login) is under way.
    plugin('latefail', {
      MANIFEST: MANIFEST('latefail'), 'package.json': ESM,
      'main.js': `import os from 'node:os';
export class Plugin {
  async authenticate({ session_id }) {
    if (session_id === 'arm') {
      new Promise((_, reject) => { os.ghLateReject = reject; }).then(() => undefined);
      return { verdict: 'ACCEPT' };
    }
    if (session_id === 'victim') {
      os.ghLateReject(new Error('late failure of the arming call'));
      await new Promise((r) => setTimeout(r, 200));
    }
    return { verdict: 'ACCEPT', session_id, armed: typeof os.ghLateReject === 'function' };
  }
}
`,
    });
    plugin('stateful', {
      MANIFEST: MANIFEST('stateful'), 'package.json': ESM,
      'dyn.js': 'export const loaded = Math.random();\n',
      'node_modules/esm-only/package.json': '{ "name": "esm-only", "type": "module", "exports": { "import": "./index.js" } }',
      'node_modules/esm-only/index.js': 'export const shout = (s) => s.toUpperCase();\n',
      'main.js': `import { shout } from 'esm-only';
import { readFile } from 'node:fs';
export class Plugin {
  async authenticate({ session_id }) {
    const before = { x: process.x ?? null, env: process.env.GH_LEAK ?? null };
    process.x = session_id;
    process.env.GH_LEAK = session_id;
    const [a, b] = await Promise.all([import('./dyn.js'), import('./dyn.js')]);
    setTimeout(() => console.log('late timer from ' + session_id), 50);
    setInterval(() => console.log('interval from ' + session_id), 20);
    // An I/O callback is not one of the call's timers: it runs after the call has returned.
    if (session_id === 'throw-later') readFile(new URL(import.meta.url), () => { throw new Error('after return'); });
    return { verdict: 'ACCEPT', before, same: a.loaded === b.loaded, shout: shout('hi') };
  }
}`,
    });
    plugin('typed', {
      MANIFEST: MANIFEST('typed'),
      'main.ts': `import { answer } from './lib/answer.js';\nimport { plain } from './lib/plain.js';\nexport class Plugin { authenticate(args: { key_value_pairs: Record<string, string> }): { verdict: string; n: number } { return { verdict: 'ACCEPT', n: answer(args.key_value_pairs) + plain }; } }`,
      'lib/plain.js': 'export const plain = 0;\n',
      'lib/answer.ts': 'export function answer(kv: Record<string, string>): number { return Object.keys(kv).length + 41; }',
    });
    plugin('nomanifest', { 'main.js': '' });
    plugin('badapi', { MANIFEST: MANIFEST('badapi').replace('api: 1.2', 'api: 2.0'), 'package.json': ESM, 'main.js': 'export class Plugin {}' });
    plugin('misnamed', { MANIFEST: MANIFEST('other_name'), 'package.json': ESM, 'main.js': 'export class Plugin {}' });
    plugin('noclass', { MANIFEST: MANIFEST('noclass'), 'package.json': ESM, 'main.js': 'export const x = 1;' });
    plugin('syntax', { MANIFEST: MANIFEST('syntax'), 'package.json': ESM, 'main.js': 'export class Plugin { authenticate( {' });
    plugin('noauth', { MANIFEST: MANIFEST('noauth'), 'package.json': ESM, 'main.js': 'export class Plugin { authorize() { return {verdict: "ACCEPT"}; } }' });
    plugin('cjs', { MANIFEST: MANIFEST('cjs'), 'package.json': '{ "type": "commonjs" }', 'main.js': 'export class Plugin {}' });
    plugin('store', { MANIFEST: MANIFEST('store').replace('type: aa', 'type: credentialstore'), 'package.json': ESM, 'main.js': 'export class Plugin {}' });
    plugin('pyonly', { MANIFEST: MANIFEST('pyonly', 'entry_point: main.py\n'), 'main.py': 'class Plugin: pass\n' });
    plugin('pysyntax', { MANIFEST: MANIFEST('pysyntax', 'entry_point: main.py\n'), 'main.py': 'class Plugin:\n  def authenticate(self:\n' });
    plugin('pynoclass', { MANIFEST: MANIFEST('pynoclass', 'entry_point: main.py\n'), 'main.py': 'x = 1\n' });
    plugin('py', {
      MANIFEST: MANIFEST('py', 'entry_point: main.py\n'),
      'helper.py': 'def double(x):\n    return 2 * x\n',
      'main.py': `#!/usr/bin/env pluginwrapper3
import os
from helper import double
calls = 0

class Plugin(object):
    def __init__(self, configuration=""):
        self.configuration = configuration

    def authenticate(self, key_value_pairs, cookie, not_supplied):
        global calls
        calls += 1
        print("py says hi")
        return {"verdict": "ACCEPT", "calls": calls, "kv": key_value_pairs, "cookie": cookie, "missing": not_supplied,
                "configuration": self.configuration, "tuple": (1, 2), "double": double(21),
                "state": os.environ["SCB_PLUGIN_STATE_DIRECTORY"], "ephemeral": os.environ["EPHEMERAL_PLUGIN_STATE_DIRECTORY"]}

    def authorize(self, **kwargs):
        return {"verdict": "ACCEPT", "names": sorted(kwargs)}

    def session_ended(self):
        return object()

    def raises(self):
        raise ValueError("no such token")

    def spins(self):
        while True:
            pass

    def exits(self):
        os._exit(4)

    def positional(self, session_id, /, missing_one, **rest):
        return {"sid": session_id, "missing": missing_one, "rest": sorted(rest)}

    def reads_stdin(self):
        import sys
        return {"stdin": sys.stdin.read()}
`,
    });
    plugin('badts', { MANIFEST: MANIFEST('badts'), 'main.ts': 'export class Plugin { authenticate( { }' });
  });
  after(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a plugin loads and reports its hooks', async () => {
    const p = await host.load('counter', 'aa');
    assert.deepEqual([...p.hooks].sort(), ['authenticate', 'authorize', 'session_ended']);
    assert.equal(p.manifest.version, '1.0.0');
  });

  test('every call gets a fresh instance, fresh module state and fresh globals, with the configuration and the SPS state directories', async () => {
    const p = await host.load('counter', 'aa');
    for (let i = 0; i < 5; i++) {
      const r = await p.call('authenticate', '[section]\nkey = v', { session_id: `s${i}` }, `s${i}`, 5000);
      assert.ok(r.ok);
      const v = r.value as Record<string, string>;
      // Module state of the entry and of its own imports, and globals, all start over on every call.
      assert.equal(v['calls'], 1);
      assert.equal(v['lib'], 1);
      assert.equal(v['seen'], 1);
      assert.equal(v['plainArgs'], true);
      assert.equal(v['hash'], '11f6ad');
      assert.equal(v['configuration'], '[section]\nkey = v');
      assert.equal(v['state'], join(dir, 'data', 'plugins', 'counter'));
      assert.ok(existsSync(v['state']!) && existsSync(v['ephemeral']!));
    }
  });

  test('nothing of one call reaches the next: process properties and env, timers; dynamic and ESM-only imports work', async () => {
    const p = await host.load('stateful', 'aa');
    for (const sid of ['s1', 's2', 's3']) {
      const r = await p.call('authenticate', '', { session_id: sid }, sid, 5000);
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.deepEqual(r.value, { verdict: 'ACCEPT', before: { x: null, env: null }, same: true, shout: 'HI' });
    }
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(!lines.some((l) => l['event'] === 'plugin.output' && /late timer|interval from/.test(String(l['msg']))), 'a timer of an ended call fired');
    assert.equal(process.env['GH_LEAK'], undefined);
  });

  test('an error thrown after a call returned does not fail the next call', async () => {
    const p = await host.load('stateful', 'aa');
    const first = await p.call('authenticate', '', { session_id: 'throw-later' }, 'throw-later', 5000);
    assert.ok(first.ok);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const next = await p.call('authenticate', '', { session_id: `after-${i}` }, `after-${i}`, 5000);
      assert.ok(next.ok, next.ok ? '' : next.message);
    }
  });

  test('a failure of an earlier call that surfaces during a later one fails neither; the worker retires after the later call', async () => {
    const p = await host.load('latefail', 'aa');
    assert.ok((await p.call('authenticate', '', { session_id: 'arm' }, 'arm', 5000)).ok);
    // Same worker (one warm, reused): the rejection of the arming call's promise happens inside this call.
    const victim = await p.call('authenticate', '', { session_id: 'victim' }, 'victim', 5000);
    assert.ok(victim.ok, victim.ok ? '' : `${victim.code}: ${victim.message}`);
    assert.ok(lines.some((l) => l['event'] === 'plugin.output' && /uncaught failure of an earlier call.*late failure of the arming call/.test(String(l['msg']))),
      'the late failure is logged');
    // The next call runs on a fresh worker: the shared module state the arming call left is gone with it.
    const next = await p.call('authenticate', '', { session_id: 'next' }, 'next', 5000);
    assert.ok(next.ok && (next.value as { armed: boolean }).armed === false, JSON.stringify(next));
  });

  test('what a plugin prints is logged line by line with the session id', async () => {
    const p = await host.load('counter', 'aa');
    await p.call('authenticate', '', { session_id: 'sid-print' }, 'sid-print', 5000);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(lines.some((l) => l['event'] === 'plugin.output' && l['sid'] === 'sid-print' && l['msg'] === 'hello from sid-print'));
  });

  test('a busy loop is ended at the timeout', async () => {
    const p = await host.load('counter', 'aa');
    const started = Date.now();
    const r = await p.call('authorize', '', {}, 's', 300);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'PLUGIN_TIMEOUT');
    assert.ok(Date.now() - started < 2000);
    const again = await p.call('authenticate', '', {}, 's', 5000);
    assert.ok(again.ok, 'the plugin still works after a timed-out call');
  });

  test('a TypeScript plugin is compiled once per version and runs', async () => {
    const p = await host.load('typed', 'aa');
    const r = await p.call('authenticate', '', { key_value_pairs: { a: '1' } }, 's', 5000);
    assert.ok(r.ok);
    assert.equal((r.value as { n: number }).n, 42);
    const compiled = readdirSync(join(dir, 'data', 'compiled-plugins'));
    assert.equal(compiled.length, 1);
    assert.match(compiled[0]!, /^typed-1\.0\.0-[0-9a-f]{16}$/);
  });

  test('Python: keyword arguments filtered to the signature, None for names not supplied, **kwargs gets all (spec 3.1, 11.1, 11.2)', async () => {
    const p = await host.load('py', 'aa');
    assert.equal(p.runtime, 'python');
    // Only the hooks Gatehouse calls count; the others are the plugin's own methods.
    assert.deepEqual([...p.hooks].sort(), ['authenticate', 'authorize', 'session_ended']);
    for (let i = 0; i < 3; i++) {
      const r = await p.call('authenticate', 'cfg', { session_id: 'py1', key_value_pairs: { a: 'b' }, cookie: { c: 1 }, client_ip: '1.2.3.4' }, 'py1', 10_000);
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.deepEqual(r.value, {
        verdict: 'ACCEPT', calls: 1, kv: { a: 'b' }, cookie: { c: 1 }, missing: null, configuration: 'cfg', tuple: [1, 2], double: 42,
        state: join(dir, 'data', 'plugins', 'py'), ephemeral: join(dir, 'run', 'py'),
      });
    }
    const pos = await p.call('positional' as 'authenticate', '', { session_id: 'p1', cookie: {} }, 'p1', 10_000);
    assert.deepEqual(pos.ok && pos.value, { sid: 'p1', missing: null, rest: ['cookie', 'session_id'] });
    const stdin = await p.call('reads_stdin' as 'authenticate', '', {}, 's', 5_000);
    assert.deepEqual(stdin.ok && stdin.value, { stdin: '' });
    const all = await p.call('authorize', '', { session_id: 's', cookie: {}, protocol: 'ssh' }, 's', 10_000);
    assert.ok(all.ok);
    assert.deepEqual((all.value as { names: string[] }).names, ['cookie', 'protocol', 'session_id']);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(lines.some((l) => l['event'] === 'plugin.output' && l['sid'] === 'py1' && l['msg'] === 'py says hi'));
  });

  test('Python: exceptions, non-JSON results, busy loops and a dying interpreter are coded failures', async () => {
    const p = await host.load('py', 'aa');
    const raised = await p.call('raises' as 'authenticate', '', {}, 's', 10_000);
    assert.deepEqual(raised.ok ? 'ok' : [raised.code, raised.message], ['PLUGIN_THREW', 'ValueError: no such token']);
    const garbage = await p.call('session_ended', '', {}, 's', 10_000);
    assert.equal(garbage.ok ? 'ok' : garbage.code, 'PLUGIN_BAD_RESULT');
    const started = Date.now();
    const spun = await p.call('spins' as 'authenticate', '', {}, 's', 500);
    assert.equal(spun.ok ? 'ok' : spun.code, 'PLUGIN_TIMEOUT');
    assert.ok(Date.now() - started < 3000);
    const died = await p.call('exits' as 'authenticate', '', {}, 's', 10_000);
    assert.equal(died.ok ? 'ok' : died.code, 'PLUGIN_CRASHED');
    const missing = await p.call('nothing' as 'authenticate', '', {}, 's', 10_000);
    assert.equal(missing.ok ? 'ok' : missing.code, 'PLUGIN_HOOK_MISSING');
  });

  test('broken plugins are refused with the reason', async () => {
    await refused('nomanifest', 'PLUGIN_LOAD_FAILED', /MANIFEST not found/);
    await refused('badapi', 'MANIFEST_INVALID', /"api" 2\.0 is not supported/);
    await refused('misnamed', 'MANIFEST_INVALID', /holds a MANIFEST named "other_name"/);
    await refused('noclass', 'PLUGIN_LOAD_FAILED', /does not export a class named "Plugin"/);
    await refused('syntax', 'PLUGIN_LOAD_FAILED', /importing the entry point failed: SyntaxError/);
    await refused('noauth', 'PLUGIN_LOAD_FAILED', /has no authenticate method/);
    // "type": "commonjs" says what the file is, as it does to Node: no syntax detection then.
    await refused('cjs', 'PLUGIN_LOAD_FAILED', /main\.js:1[\s\S]*Unexpected token 'export'/);
    await refused('store', 'MANIFEST_INVALID', /is of type "credentialstore" but is used as an AA plugin/);
    await refused('pyonly', 'PLUGIN_LOAD_FAILED', /has no authenticate method/);
    await refused('pysyntax', 'PLUGIN_LOAD_FAILED', /importing the entry point failed: .*SyntaxError/s);
    await refused('pynoclass', 'PLUGIN_LOAD_FAILED', /no class named "Plugin"/);
    await refused('badts', 'PLUGIN_LOAD_FAILED', /TypeScript error/);
    await refused('missing', 'PLUGIN_LOAD_FAILED', /not found/);
  });
});
