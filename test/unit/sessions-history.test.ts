import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { describe as describeRecord, historyTable, parseWhen, toQuery } from '../../src/cli/sessions-history.js';
import { startExpiry } from '../../src/store/expiry.js';
import type { ExpiryRules, SessionStore } from '../../src/store/session-db.js';
import { createLogger } from '../../src/log/logger.js';
import { record } from '../helpers/session-store-contract.js';

// The history commands' parsing and output, and the background expiry's timer.

test('--since and --until take times and spans back from now', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  assert.equal(parseWhen('2h', now), now - 7_200_000);
  assert.equal(parseWhen('7d', now), now - 7 * 86_400_000);
  assert.equal(parseWhen('2026-11-30T10:00:00Z', now), Date.parse('2026-11-30T10:00:00Z'));
  assert.match(String(parseWhen('yesterday', now)), /neither a time .* nor a span/);
  assert.deepEqual(toQuery({ user: 'alice', since: '1h', reason: 'logout' }, now), { user: 'alice', reason: 'logout', since: now - 3_600_000 });
  assert.match(String(toQuery({ until: 'soon' }, now)), /^--until: /);
});

test('the history table and the whole record say who, where, what ran and why it ended', () => {
  const r = record('abc', { additional_metadata: ['ticket=42'], recordings: ['/rec/abc-1.cast'], ended_by: 'logout_token jti=j-1' });
  const table = historyTable([r, record('live', { ended_at: null, end_reason: null })]);
  assert.match(table, /^SESSION +CONNECTED +DURATION +CLIENT/);
  assert.match(table, /abc +2026-11-30T10:00:00Z +1m0s +10\.0\.0\.5:50123 +default +root@db01:22 +alice +logout +10\/20/);
  assert.match(table, /\nlive .* live +10\/20$/);
  const text = describeRecord(r);
  for (const want of [/gateway user alice \(groups: ops\)/, /authenticate ACCEPT \(12 ms\)/, /ticket=42/,
    /1\. session exec "uptime": .* exit 0, 0\/20 bytes/, /\/rec\/abc-1\.cast/, /ended +2026-11-30T10:01:00Z: logout/,
    /identity +alice at https:\/\/idp\.example \(session sid-1\)/, /ended by +logout_token jti=j-1/]) {
    assert.match(text, want);
  }
});

test('expiry runs at start and on its timer, never twice at once, and its timer does not hold the process', async () => {
  let calls = 0;
  let release: () => void = () => undefined;
  const store = {
    expire: async (_now: number, rules: ExpiryRules) => {
      calls++;
      assert.equal(rules.retentionDays, 3);
      await new Promise<void>((r) => { release = r; });
      return 2;
    },
  } as unknown as SessionStore;
  const log = createLogger('fatal', new Writable({ write: (_c, _e, cb) => cb() }));
  const runner = startExpiry(store, () => ({ anonymousExpirySeconds: 0, retentionDays: 3 }), log, 20);
  const joined = runner.runNow();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(calls, 1, 'passes do not overlap');
  release();
  assert.equal(await joined, 2);
  const deadline = Date.now() + 5_000;
  while (calls < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    release();
  }
  assert.ok(calls >= 2, 'the timer runs it again');
  runner.stop();
  release();
});
