import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, FIXTURES, ROOT } from '../helpers/paths.js';

// `gatehouse plugin try` runs a plugin's hook sequence without SSH through the real plugin host, for
// JavaScript, Python and credential stores; `gatehouse plugin new` makes folders that pass `plugin check` and
// their own tests (which run `plugin try --answers`); the TypeScript flavour type-checks against
// `gatehouse/plugin`.


interface Run {
  outcome: string;
  code?: string;
  user_message?: string;
  credentials?: { private_keys: number; passwords: number };
  steps: { hook: string; args: { key_value_pairs?: Record<string, string> }; result?: Record<string, unknown>; cookie: { before: Record<string, unknown>; after: Record<string, unknown> }; session_cookie: { after: Record<string, unknown> } }[];
  output: { hook: string; line: string }[];
}

function gatehouse(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, ...opts });
}

function tryJson(dir: string, ...args: string[]): { status: number | null; run: Run; stdout: string; stderr: string } {
  const r = gatehouse(['plugin', 'try', dir, '--json', ...args]);
  assert.ok(r.stdout.startsWith('{'), `no JSON: ${r.stdout}${r.stderr}`);
  return { status: r.status, run: JSON.parse(r.stdout) as Run, stdout: r.stdout, stderr: r.stderr };
}

describe('gatehouse plugin try', () => {
  const demo = join(ROOT, 'plugins', 'demo_token');
  const spsToken = join(FIXTURES, 'plugins', 'sps_token_example');

  test('the demo plugin (JavaScript) to ACCEPT and to DENY; a no-echo answer never printed', () => {
    const ok = tryJson(demo, '--username', 'root@demo', '--config', '[demo]\ntoken = Tok3n-xyz', '--answers', 'token=Wr0ng-abc,token=Tok3n-xyz');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.run.outcome, 'ACCEPT');
    assert.deepEqual(ok.run.steps.map((s) => s.hook), ['authenticate', 'authenticate', 'authenticate', 'authorize', 'session_ended']);
    assert.deepEqual(ok.run.steps[2]!.args.key_value_pairs, { token: '***' });
    assert.deepEqual(ok.run.steps[2]!.cookie, { before: { cnt: 2 }, after: { cnt: 2, accepted_after: 2 } });
    assert.match(ok.run.output.find((o) => o.hook === 'session_ended')!.line, /^Session ended; .*session_details='accepted_after=2,cnt=2'$/);
    assert.ok(!ok.stdout.includes('Tok3n-xyz') && !ok.stdout.includes('Wr0ng-abc') && !ok.stderr.includes('Wr0ng-abc'), 'a no-echo answer was printed');

    const denied = tryJson(demo, '--answers', 'token=nope');
    assert.equal(denied.status, 1);
    assert.equal(denied.run.outcome, 'DENY');
    assert.equal(denied.run.code, 'DENIED_BY_PLUGIN');
    assert.equal(denied.run.user_message, 'Wrong token three times; access denied.');
    assert.equal(denied.run.steps.at(-1)!.hook, 'session_ended');
  });

  test('the SPS documentation\'s Python token example to ACCEPT and to DENY', () => {
    const ok = tryJson(spsToken, '--username', 'token=bad@alice@db01', '--answers', 'token=good');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.run.outcome, 'ACCEPT');
    // The pre-answer from the user name is a secret; the typed answer was asked with echo on.
    assert.deepEqual(ok.run.steps.map((s) => s.args.key_value_pairs), [{ token: '***' }, { token: 'good' }, { token: 'good' }, undefined]);
    assert.match(ok.run.output.at(-1)!.line, /session_details='cnt=1'/);

    const denied = tryJson(spsToken, '--answers', 'token=bad');
    assert.equal(denied.status, 1);
    assert.equal(denied.run.outcome, 'DENY');
    assert.equal(denied.run.steps.filter((s) => s.hook === 'authenticate').length, 4);
    assert.match(denied.run.output.at(-1)!.line, /session_details='cnt=3'/);
  });

  test('a credential store: keys, then passwords, authentication_completed, session_ended; credentials masked', () => {
    const config = JSON.stringify({ passwords: ['Store-pass-1'], private_keys: [] });
    const r = tryJson(join(FIXTURES, 'plugins', 'store_js'), '--config', config, '--username', 'root@db01', '--gateway-user', 'alice');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.run.outcome, 'CREDENTIALS');
    assert.deepEqual(r.run.credentials, { private_keys: 0, passwords: 1 });
    assert.deepEqual(r.run.steps.map((s) => s.hook), ['get_private_key_list', 'get_password_list', 'authentication_completed', 'session_ended']);
    assert.deepEqual(r.run.steps[1]!.result!['passwords'], ['***']);
    assert.deepEqual(r.run.steps[0]!.session_cookie.after, { store: 'was here' });
    assert.ok(!r.stdout.includes('Store-pass-1'));
  });

  test('without an answer for a question and no terminal: a usage error naming the key', () => {
    const r = gatehouse(['plugin', 'try', demo], { env: { ...process.env } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /asks "token".*--answers token=/);
  });
});

describe('gatehouse plugin new', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-new-'));
    // The generated tests run `gatehouse` from PATH, as an author's would.
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'gatehouse'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(dir, 'bin', 'gatehouse'), 0o755);
    env = { ...process.env, PATH: `${join(dir, 'bin')}${delimiter}${process.env['PATH'] ?? ''}` };
    // Run as a test process of its own, not as a subtest reporting to this runner.
    delete env['NODE_TEST_CONTEXT'];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const create = (name: string, ...flags: string[]): string => {
    const r = gatehouse(['plugin', 'new', name, ...flags], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    const check = gatehouse(['plugin', 'check', name], { cwd: dir });
    return `${check.status}\n${check.stdout}${check.stderr}`;
  };

  test('JavaScript (the default): passes plugin check and its own test', () => {
    assert.match(create('new_js'), /^0\nnew_js 0\.1\.0: AA plugin, plugin API 1\.\d+, javascript\nhooks: authenticate, authorize, session_ended\nok\n$/);
    const t = spawnSync(process.execPath, ['--test', 'test/'], { cwd: join(dir, 'new_js'), env, encoding: 'utf8', timeout: 180_000 });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /# pass 3/);
  });

  test('Python: passes plugin check and its own test', () => {
    assert.match(create('new_py', '--python'), /^0\nnew_py 0\.1\.0: AA plugin, .*python\nhooks: authenticate, authorize, session_ended\nok\n$/);
    const t = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-v'], { cwd: join(dir, 'new_py'), env, encoding: 'utf8', timeout: 180_000 });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stderr, /Ran 3 tests[\s\S]*OK/);
  });

  test('TypeScript: passes plugin check and its own test, and type-checks against gatehouse/plugin', () => {
    assert.match(create('new_ts', '--typescript'), /^0\nnew_ts 0\.1\.0: AA plugin, .*javascript\nhooks: authenticate, authorize, session_ended\nok\n$/);
    const t = spawnSync(process.execPath, ['--test', 'test/'], { cwd: join(dir, 'new_ts'), env, encoding: 'utf8', timeout: 180_000 });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    // As after `npm install --save-dev gatehouse`: the package's exports give the types, from the shipped
    // build (dist/, which `npm ci` makes through the prepare script).
    assert.ok(existsSync(join(ROOT, 'dist', 'plugins', 'plugin-types.d.ts')), 'dist/plugins/plugin-types.d.ts is missing: npm run build');
    mkdirSync(join(dir, 'new_ts', 'node_modules'));
    symlinkSync(ROOT, join(dir, 'new_ts', 'node_modules', 'gatehouse'), 'dir');
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const typed = spawnSync(process.execPath, [tsc, '-p', join(dir, 'new_ts', 'tsconfig.json')], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(typed.status, 0, typed.stdout);
    // A wrong verdict is a type error, which is what the types are for.
    writeFileSync(join(dir, 'new_ts', 'bad.ts'), "import type { AuthorizeResult } from 'gatehouse/plugin';\nexport const r: AuthorizeResult = { verdict: 'ACCEPTED' };\n");
    const bad = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', join(dir, 'new_ts', 'bad.ts')], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stdout, /"ACCEPTED"' is not assignable/);
  });

  test('SDK: an AAPlugin subclass whose check needs only the SDK package Gatehouse provides', () => {
    const out = create('new_sdk', '--sdk');
    // Passes once safeguard.sessions.plugin is on the Python path (the SDK branch); until then the only reason is its absence.
    assert.match(out, /^0\nnew_sdk 0\.1\.0: AA plugin, .*python\nhooks: authenticate, authorize, session_ended\nok\n$|No module named 'safeguard'/);
  });

  test('refuses a name that is not a plugin name, and an existing folder', () => {
    assert.equal(gatehouse(['plugin', 'new', 'bad-name'], { cwd: dir }).status, 2);
    assert.equal(gatehouse(['plugin', 'new', 'new_js'], { cwd: dir }).status, 1);
  });
});
