import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { BastionError } from '../../src/core/errors.js';
import { PluginCache } from '../../src/plugins/plugin-cache.js';
import { PluginHost } from '../../src/plugins/plugin-host.js';

// Plugin files load as Node loads them: an ES-module main.js without package.json, CommonJS main.js and
// main.cjs, any of them named by entry_point, ES modules and CommonJS importing each other; a plugin runs
// from a frozen copy, so an edit reaches only a later load; errors name the file and the line.

const MANIFEST = (name: string, extra = '') => `name: ${name}\ndescription: test\nversion: 1.0.0\ntype: aa\napi: 1.2\n${extra}`;
const ACCEPT = (tag: string) => `{ return { verdict: 'ACCEPT', tag: '${tag}' }; }`;

describe('loading plugins as Node does', () => {
  let dir: string;
  const hosts: PluginHost[] = [];
  const newHost = (): PluginHost => {
    const h = new PluginHost({
      pluginsDir: join(dir, 'plugins'), stateDir: join(dir, 'data'), ephemeralDir: join(dir, 'run'),
      warmWorkers: 0, maxActive: 2, memoryMb: 64, python: '/usr/bin/python3', log: pino({ level: 'silent' }),
    });
    hosts.push(h);
    return h;
  };
  const plugin = (name: string, files: Record<string, string>): void => {
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, 'plugins', name, f)), { recursive: true });
      writeFileSync(join(dir, 'plugins', name, f), text);
    }
  };
  const tagOf = async (host: PluginHost, name: string): Promise<unknown> => {
    const p = await host.load(name, 'aa');
    const r = await p.call('authenticate', 'cfg', { session_id: 's', key_value_pairs: {} }, 's', 10_000);
    assert.ok(r.ok, r.ok ? '' : r.message);
    return (r.value as { tag: unknown }).tag;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-loading-'));
    plugin('esm_plain', {
      MANIFEST: MANIFEST('esm_plain'),
      'helper.cjs': 'exports.suffix = "-cjs-helper";\n',
      'main.js': `#!/usr/bin/env node\nimport { suffix } from './helper.cjs';\nconst url = import.meta.url;\nexport class Plugin {\n  authenticate() { return { verdict: 'ACCEPT', tag: 'esm' + suffix + (url.startsWith('file:') ? '' : '?') }; }\n  helper() { return 1; }\n}\n`,
    });
    plugin('cjs_plain', {
      MANIFEST: MANIFEST('cjs_plain'),
      'data.json': '{ "tag": "cjs-json" }',
      'lib/util.js': 'module.exports = { read: () => require("../data.json").tag };\n',
      'main.js': `const { read } = require('./lib/util');\nconst { createHash } = require('node:crypto');\nclass Plugin {\n  authenticate() { return { verdict: 'ACCEPT', tag: read() + ':' + createHash('sha1').update('x').digest('hex').slice(0, 4) }; }\n  session_ended() {}\n  notAHook() {}\n}\nmodule.exports = { Plugin };\n`,
    });
    plugin('cjs_ext', { MANIFEST: MANIFEST('cjs_ext'), 'main.cjs': `module.exports = class Plugin { authenticate() ${ACCEPT('main.cjs')} };\n` });
    plugin('entry_cjs', { MANIFEST: MANIFEST('entry_cjs', 'entry_point: src/plugin.cjs\n'), 'src/plugin.cjs': `exports.Plugin = class { authenticate() ${ACCEPT('entry.cjs')} };\n` });
    plugin('entry_mjs', { MANIFEST: MANIFEST('entry_mjs', 'entry_point: lib/entry.js\n'), 'lib/entry.js': `export class Plugin { authenticate() ${ACCEPT('entry.js')} }\n` });
    plugin('esm_scope', { MANIFEST: MANIFEST('esm_scope'), 'package.json': '{ "type": "module" }', 'main.js': `export class Plugin { authenticate() ${ACCEPT('scoped')} }\n` });
    plugin('edited', { MANIFEST: MANIFEST('edited'), 'main.js': `export class Plugin { authenticate() ${ACCEPT('v1')} }\n` });
    plugin('esm_broken', { MANIFEST: MANIFEST('esm_broken'), 'main.js': 'const a = 1;\nexport class Plugin {\n  authenticate( {\n}\n' });
    plugin('cjs_broken', { MANIFEST: MANIFEST('cjs_broken'), 'main.js': 'const a = 1;\nconst b = {;\n' });
    plugin('cjs_requires_esm', { MANIFEST: MANIFEST('cjs_requires_esm'), 'esm.mjs': 'export const x = 1;\n', 'main.cjs': 'require("./esm.mjs");\n' });
  });
  after(async () => {
    for (const h of hosts) await h.close(true);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an ES-module main.js without package.json loads (syntax detection) and imports a CommonJS helper', async () => {
    const host = newHost();
    assert.equal(await tagOf(host, 'esm_plain'), 'esm-cjs-helper');
    // Only the hooks Gatehouse calls are reported, not helper methods.
    assert.deepEqual([...(await host.load('esm_plain', 'aa')).hooks], ['authenticate']);
  });

  test('CommonJS main.js (require of own files, JSON and built-ins) and main.cjs load', async () => {
    const host = newHost();
    assert.equal(await tagOf(host, 'cjs_plain'), 'cjs-json:11f6');
    assert.deepEqual([...(await host.load('cjs_plain', 'aa')).hooks].sort(), ['authenticate', 'session_ended']);
    assert.equal(await tagOf(host, 'cjs_ext'), 'main.cjs');
    assert.equal(await tagOf(host, 'esm_scope'), 'scoped');
  });

  test('entry_point may name a .cjs or a .js file anywhere in the plugin', async () => {
    const host = newHost();
    assert.equal(await tagOf(host, 'entry_cjs'), 'entry.cjs');
    assert.equal(await tagOf(host, 'entry_mjs'), 'entry.js');
  });

  test('a loaded plugin keeps running the code it loaded; a new load sees the edit', async () => {
    const first = newHost();
    assert.equal(await tagOf(first, 'edited'), 'v1');
    plugin('edited', { 'main.js': `export class Plugin { authenticate() ${ACCEPT('v2')} }\n` });
    // The first host's pool starts new runners from its frozen copy (warm_workers 0: every call needs one).
    assert.equal(await tagOf(first, 'edited'), 'v1');
    assert.equal(await tagOf(newHost(), 'edited'), 'v2');
  });

  test('the plugin cache reuses an unchanged plugin and loads an edited one beside it', async () => {
    const cache = new PluginCache();
    const opts = {
      pluginsDir: join(dir, 'plugins'), stateDir: join(dir, 'data'), ephemeralDir: join(dir, 'run'),
      warmWorkers: 0, maxActive: 2, memoryMb: 64, python: '/usr/bin/python3', log: pino({ level: 'silent' }),
    };
    plugin('cached', { MANIFEST: MANIFEST('cached'), 'main.js': `export class Plugin { authenticate() ${ACCEPT('c1')} }\n` });
    const a = await cache.acquire(opts, 'cached', 'aa');
    const b = await cache.acquire(opts, 'cached', 'aa');
    assert.equal(a, b, 'an unchanged plugin is the same handle');
    plugin('cached', { 'main.js': `export class Plugin { authenticate() ${ACCEPT('c2')} }\n` });
    const c = await cache.acquire(opts, 'cached', 'aa');
    assert.notEqual(c, a);
    const tag = async (h: typeof a) => {
      const r = await h.call('authenticate', '', { session_id: 's' }, 's', 10_000);
      assert.ok(r.ok);
      return (r.value as { tag: string }).tag;
    };
    assert.deepEqual([await tag(a), await tag(c)], ['c1', 'c2']);
    cache.release(a);
    cache.release(b);
    // Released by every snapshot: its calls still work (sessions that started on it), each on a runner of its own.
    assert.equal(await tag(a), 'c1');
    cache.release(c, true);
  });

  test('syntax errors name the plugin file and the line, for ES modules and CommonJS', async () => {
    const host = newHost();
    const refused = async (name: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(host.load(name, 'aa'), (err: unknown) => {
        assert.ok(err instanceof BastionError);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('plugin-code'), `the message names the copy: ${err.message}`);
        return true;
      });
    };
    await refused('esm_broken', new RegExp(`${join(dir, 'plugins', 'esm_broken', 'main.js')}:5[\\s\\S]*SyntaxError: Unexpected end of input`));
    await refused('cjs_broken', new RegExp(`${join(dir, 'plugins', 'cjs_broken', 'main.js')}:2[\\s\\S]*SyntaxError: Unexpected token ';'`));
    await refused('cjs_requires_esm', /require\(\) of the ES module .*esm\.mjs/);
  });
});
