import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { checkConfig } from '../../src/cli/check.js';
import { loadConfigFile, parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { freePort } from '../helpers/sshd.js';

// Issue 15: `gatehouse check` is `serve` without serving. Both refuse the same configurations with the same
// coded line (file, line, key), check writes no file (no key is generated), huge values are not echoed
// whole, and formatting 20,000 errors is quick. Start-up failures are one coded line, never a stack.

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

describe('gatehouse check', () => {
  let dir: string;
  let port: number;
  let busy: Server;
  let busyPort: number;
  const base = (extra = '', listen?: string): string => `listen: ["${listen ?? `127.0.0.1:${port}`}"]
${extra}policies:
  - name: demo
    aa_plugin:
      name: demo_token
    targets:
      allow:
        - hosts: [db01]
    target_auth:
      method: key
`;
  const run = (cmd: 'check' | 'serve', text: string) => {
    writeFileSync(join(dir, 'config.yaml'), text);
    return spawnSync(process.execPath, [CLI, cmd, '--config', join(dir, 'config.yaml')], { encoding: 'utf8', timeout: 60_000 });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-check-'));
    cpSync(join(ROOT, 'plugins', 'demo_token'), join(dir, 'plugins', 'demo_token'), { recursive: true });
    port = await freePort();
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as { port: number }).port;
  });
  after(() => {
    busy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a valid configuration passes and nothing is written (keys are reported, not generated)', () => {
    const before0 = files(dir);
    const r = run('check', base());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /host_ed25519 does not exist yet; serve generates it/);
    assert.match(r.stdout, /configuration and plugins are valid/);
    assert.deepEqual(files(dir), [...new Set([...before0, 'config.yaml'])].sort());
  });

  test('check and serve refuse the same configurations with the same coded line, and no stack', () => {
    const cases: [string, string, RegExp][] = [
      ['a control socket path too long for a Unix socket', base(`control_socket: /tmp/${'s'.repeat(150)}.sock\n`), /^gatehouse: CONFIG_INVALID: invalid configuration:\n {2}\S+config\.yaml:2: control_socket: the control socket/],
      ['a listen address in use', base('', `127.0.0.1:${busyPort}`), /^gatehouse: LISTEN_FAILED: \S+config\.yaml:1: listen\.0: 127\.0\.0\.1:\d+: cannot listen there \(the address is in use/],
      ['a listen host that does not resolve', base('', 'nosuch.invalid:2222'), /^gatehouse: LISTEN_FAILED: \S+config\.yaml:1: listen\.0: nosuch\.invalid:2222: the host does not resolve/],
      ['an empty file', '', /^gatehouse: CONFIG_INVALID: invalid configuration:\n {2}\S+config\.yaml:1: /],
      ['two YAML documents', `${base()}---\nlisten: []\n`, /^gatehouse: CONFIG_INVALID: \S+config\.yaml:11: YAML syntax error: expected a single document/],
      ['a huge bad value', base(`log_level: ${'x'.repeat(1024 * 1024)}\n`), /^gatehouse: CONFIG_INVALID: invalid configuration:\n {2}\S+config\.yaml:2: log_level: must be one of/],
    ];
    for (const [what, text, expected] of cases) {
      const c = run('check', text);
      const s = run('serve', text);
      assert.equal(c.status, 1, `${what}: check`);
      assert.equal(s.status, 1, `${what}: serve`);
      assert.match(c.stderr, expected, what);
      assert.equal(c.stderr, s.stderr, `${what}: check and serve disagree`);
      assert.doesNotMatch(s.stderr, /\n\s+at /, `${what}: a stack`);
      assert.ok(c.stderr.length < 2_000, `${what}: ${c.stderr.length} bytes of error`);
    }
  });

  test('a fuzzed configuration never makes check write a file (keys included)', async () => {
    const fuzz = join(dir, 'fuzz');
    mkdirSync(fuzz);
    const value = fc.oneof(fc.constantFrom('/nonexistent/k', 'keys', '', '[]', '{}', '1', 'x:y', '"/tmp/z"', `127.0.0.1:${port}`, 'null'), fc.string({ maxLength: 12 }));
    const keys = fc.constantFrom('keys_dir', 'state_dir', 'plugins_dir', 'control_socket', 'log_level', 'python', 'recordings_dir', 'bogus');
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(keys, value), { maxLength: 4 }), fc.constantFrom('key', 'password'), async (pairs, method) => {
      const extra = [...new Map(pairs).entries()].map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join('');
      const text = base(extra).replace('method: key', `method: ${method}`);
      const file = join(fuzz, 'config.yaml');
      writeFileSync(file, text);
      try {
        const cfg = loadConfigFile(file);
        await checkConfig(cfg);
      } catch (err) {
        assert.ok(err instanceof BastionError, String(err));
      }
      assert.deepEqual(files(fuzz), ['config.yaml'], text);
      assert.ok(!existsSync('/nonexistent'));
    }), { numRuns: 60 });
  });

  test('20,000 errors format in linear time', () => {
    // Timed against 2,000 errors, so that a loaded machine does not fail it: linear is ~10x, quadratic ~100x.
    const timed = (n: number): { ms: number; message: string } => {
      const text = `listen: ["127.0.0.1:1"]\npolicies:\n${Array.from({ length: n }, (_, i) => `  - name: p${i}\n    bogus: ${i}\n`).join('')}`;
      const started = performance.now();
      let message = '';
      try {
        parseConfig(text, '/etc/gatehouse/config.yaml');
      } catch (err) {
        message = (err as Error).message;
      }
      return { ms: performance.now() - started, message };
    };
    const small = timed(2_000);
    const big = timed(20_000);
    assert.ok(big.message.split('\n').length > 20_000);
    assert.match(big.message, /config\.yaml:40002: policies\.19999\.bogus: unknown key "bogus"/);
    assert.ok(big.ms < 30 * Math.max(small.ms, 20), `20,000 errors took ${Math.round(big.ms)} ms, 2,000 took ${Math.round(small.ms)} ms`);
  });
});
