import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openFileLimit, sessionsWithin } from '../../src/cli/file-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test('the soft open-file limit is read from /proc/self/limits', () => {
  assert.equal(openFileLimit(LIMITS), 1024);
  assert.equal(openFileLimit(LIMITS.replace('1024                 524288', 'unlimited            unlimited')), Number.POSITIVE_INFINITY);
  assert.equal(openFileLimit(''), undefined);
  assert.equal(typeof openFileLimit(), 'number', 'this machine has /proc/self/limits');
});

test('two sockets per session, less what Gatehouse keeps open itself', () => {
  assert.equal(sessionsWithin(1024), 480);
  assert.equal(sessionsWithin(20_000), 9_968);
  assert.equal(sessionsWithin(10), 0);
});
