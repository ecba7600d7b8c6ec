import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, FIXTURES } from '../helpers/paths.js';

// `gatehouse check` and `gatehouse plugin check` with SDK plugins: a plugin on the bundled SDK passes without
// bundling it; a plugin whose imports cannot be satisfied is refused naming the module and where it is
// imported.

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('checking SDK plugins', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-sdk-check-'));
    mkdirSync(join(dir, 'plugins'));
    cpSync(join(FIXTURES, 'plugins', 'sdk_mfa'), join(dir, 'plugins', 'sdk_mfa'), { recursive: true });
    mkdirSync(join(dir, 'plugins', 'needs_more', 'lib'), { recursive: true });
    writeFileSync(join(dir, 'plugins', 'needs_more', 'MANIFEST'), 'name: needs_more\ndescription: x\nversion: 1.0\ntype: aa\napi: 1.6\nentry_point: main.py\n');
    writeFileSync(join(dir, 'plugins', 'needs_more', 'main.py'), 'from lib.plugin import Plugin\n');
    writeFileSync(join(dir, 'plugins', 'needs_more', 'lib', '__init__.py'), '');
    writeFileSync(join(dir, 'plugins', 'needs_more', 'lib', 'plugin.py'),
      'from safeguard.sessions.plugin import AAPlugin\nimport yubico_client\n\n\nclass Plugin(AAPlugin):\n    pass\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('gatehouse plugin check: an SDK plugin passes; a missing module is named with the importing line', () => {
    const ok = cli('plugin', 'check', join(dir, 'plugins', 'sdk_mfa'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^sdk_mfa 1\.0\.0: AA plugin, plugin API 1\.6, python\nhooks: authenticate, authorize, session_ended\nok\n$/);
    const bad = cli('plugin', 'check', join(dir, 'plugins', 'needs_more'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /imports Python module "yubico_client", which is not installed \(imported at .*needs_more\/lib\/plugin\.py:2\)/);
  });

  test('gatehouse check --config refuses the configuration, naming the plugin and the module', () => {
    writeFileSync(join(dir, 'config.yaml'), `listen: ["127.0.0.1:0"]
policies:
  - name: p
    aa_plugin: {name: needs_more}
    target: {host: 127.0.0.1}
    target_auth: {method: key}
`);
    const r = cli('check', '--config', join(dir, 'config.yaml'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /needs_more/);
    assert.match(r.stderr, /Python module "yubico_client"/);
  });
});
