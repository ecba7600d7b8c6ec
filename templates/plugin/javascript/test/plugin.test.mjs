// Runs the plugin's hooks through Gatehouse with scripted answers (`gatehouse plugin try --answers`).
// Run: node --test test/   (needs `gatehouse` on PATH, or GATEHOUSE=/path/to/gatehouse)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const plugin = dirname(dirname(fileURLToPath(import.meta.url)));
const tryPlugin = (...args) => {
  const r = spawnSync(process.env.GATEHOUSE ?? 'gatehouse', ['plugin', 'try', plugin, '--username', 'alice@server', '--json', ...args], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'gatehouse not found: put it on PATH or set GATEHOUSE');
  return { status: r.status, run: JSON.parse(r.stdout), stderr: r.stderr };
};

test('the right token is accepted', () => {
  const { status, run } = tryPlugin('--answers', 'token=letmein');
  assert.equal(status, 0);
  assert.equal(run.outcome, 'ACCEPT');
  assert.deepEqual(run.steps.map((s) => s.hook), ['authenticate', 'authenticate', 'authorize', 'session_ended']);
  assert.equal(run.steps[1].args.key_value_pairs.token, '***', 'an answer typed with echo off is never shown');
});

test('three wrong tokens are denied with the reason', () => {
  const { status, run } = tryPlugin('--answers', 'token=nope');
  assert.equal(status, 1);
  assert.equal(run.outcome, 'DENY');
  assert.equal(run.user_message, 'Wrong token three times.');
  assert.equal(run.steps.at(-1).cookie.before.tries, 3);
});

test('the token comes from the configuration', () => {
  const { run } = tryPlugin('--config', '[__NAME__]\ntoken = other', '--answers', 'token=other');
  assert.equal(run.outcome, 'ACCEPT');
});
