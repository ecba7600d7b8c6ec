import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/plugins/contract.js';
import { checkQuestion, checkVerdict } from '../../src/plugins/verdict.js';

// spec 5.5-5.9 and 11.3-11.6, 11.11, 11.14: what a hook may return.

const ok = (hook: 'authenticate' | 'authorize', raw: JsonValue) => {
  const r = checkVerdict(hook, raw);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.verdict;
};
const bad = (hook: 'authenticate' | 'authorize', raw: JsonValue, message: RegExp) => {
  const r = checkVerdict(hook, raw);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.message, message);
};

describe('checkVerdict', () => {
  test('ACCEPT, DENY with reason, extra keys ignored', () => {
    assert.equal(ok('authenticate', { verdict: 'ACCEPT', my_key: 'my_value', additional_metadata: 'm' }).verdict, 'ACCEPT');
    const d = ok('authorize', { verdict: 'DENY', reason: 'Change window closed' });
    assert.equal(d.verdict, 'DENY');
    assert.equal(d.reason, 'Change window closed');
  });
  test('None and NONE from authenticate mean "no gateway authentication" (spec 5.6, 11.3)', () => {
    assert.equal(ok('authenticate', null).verdict, 'NONE');
    assert.equal(ok('authenticate', { verdict: 'NONE' }).verdict, 'NONE');
    bad('authorize', null, /None/);
    bad('authorize', { verdict: 'NONE' }, /expected one of ACCEPT, DENY, NEEDINFO/);
  });
  test('missing, unknown or lower-case verdicts and non-dicts are plugin errors (spec 11.4)', () => {
    bad('authenticate', {}, /no "verdict"/);
    bad('authenticate', { verdict: 'accept' }, /"accept"/);
    bad('authenticate', { verdict: 'MAYBE' }, /"MAYBE"/);
    bad('authenticate', { verdict: 1 }, /1/);
    bad('authenticate', 'ACCEPT', /a string instead of a dict/);
    bad('authenticate', ['ACCEPT'], /a list instead of a dict/);
  });
  test('NEEDINFO questions: 2 elements echo on, 3rd truthy echo off (spec 5.8, 11.6)', () => {
    const two = ok('authenticate', { verdict: 'NEEDINFO', question: ['token', 'Enter your token number: '] });
    assert.equal(two.verdict, 'NEEDINFO');
    if (two.verdict === 'NEEDINFO') assert.deepEqual(two.question, { key: 'token', prompt: 'Enter your token number: ', noEcho: false });
    const three = ok('authenticate', { verdict: 'NEEDINFO', question: ['token', 'Token: ', true] });
    if (three.verdict === 'NEEDINFO') assert.equal(three.question.noEcho, true);
    for (const falsy of [false, 0, '', null, [], {}] as JsonValue[]) {
      assert.equal(checkQuestion(['k', 'p', falsy]) instanceof Object && (checkQuestion(['k', 'p', falsy]) as { noEcho: boolean }).noEcho, false, JSON.stringify(falsy));
    }
    assert.equal((checkQuestion(['k', 'p', 1]) as { noEcho: boolean }).noEcho, true);
  });
  test('NEEDINFO without a valid question is a plugin error (spec 11.5)', () => {
    bad('authenticate', { verdict: 'NEEDINFO' }, /without a "question"/);
    bad('authenticate', { verdict: 'NEEDINFO', question: 'token' }, /without a "question"/);
    bad('authenticate', { verdict: 'NEEDINFO', question: ['token'] }, /1 elements/);
    bad('authenticate', { verdict: 'NEEDINFO', question: ['', 'p'] }, /key/);
    bad('authenticate', { verdict: 'NEEDINFO', question: ['k', 5] }, /prompt/);
    bad('authenticate', { verdict: 'NEEDINFO', question: ['k', 'p', true, 'x'] }, /4 elements/);
  });
  test('cookies must be dicts; a missing cookie keeps the old one (spec 4, 11.14)', () => {
    bad('authenticate', { verdict: 'ACCEPT', cookie: 'x' }, /"cookie" that is a string/);
    bad('authenticate', { verdict: 'ACCEPT', session_cookie: [1] }, /"session_cookie" that is a list/);
    const v = ok('authenticate', { verdict: 'ACCEPT' });
    assert.equal(v.cookie, undefined);
    assert.deepEqual(ok('authenticate', { verdict: 'ACCEPT', cookie: { a: 1 } }).cookie, { a: 1 });
  });
  test('gateway_user and gateway_groups only together, only from authenticate (spec 5.9, 11.11)', () => {
    const both = ok('authenticate', { verdict: 'ACCEPT', gateway_user: 'alice', gateway_groups: ['ops', 'dba'] });
    if (both.verdict === 'ACCEPT') assert.deepEqual(both.gateway, { user: 'alice', groups: ['ops', 'dba'] });
    const empty = ok('authenticate', { verdict: 'ACCEPT', gateway_user: 'alice', gateway_groups: [] });
    if (empty.verdict === 'ACCEPT') assert.deepEqual(empty.gateway, { user: 'alice', groups: [] });
    const userOnly = ok('authenticate', { verdict: 'ACCEPT', gateway_user: 'alice' });
    if (userOnly.verdict === 'ACCEPT') assert.equal(userOnly.gateway, undefined);
    assert.equal(userOnly.warnings.length, 1);
    const fromAuthorize = ok('authorize', { verdict: 'ACCEPT', gateway_user: 'a', gateway_groups: [] });
    if (fromAuthorize.verdict === 'ACCEPT') assert.equal(fromAuthorize.gateway, undefined);
  });
  test('identity {issuer, subject, sid} from an authenticate ACCEPT binds the session; anything else is a warning', () => {
    const full = ok('authenticate', { verdict: 'ACCEPT', identity: { issuer: 'https://op', subject: 's1', sid: 'x9' } });
    assert.ok(full.verdict === 'ACCEPT');
    assert.deepEqual(full.identity, { issuer: 'https://op', subject: 's1', sid: 'x9' });
    const noSid = ok('authenticate', { verdict: 'ACCEPT', identity: { issuer: 'https://op', subject: 's1', sid: null } });
    assert.ok(noSid.verdict === 'ACCEPT');
    assert.deepEqual(noSid.identity, { issuer: 'https://op', subject: 's1', sid: undefined });
    for (const identity of [{ issuer: 'https://op' }, { issuer: '', subject: 's' }, { issuer: 'i', subject: 's', sid: 5 }, 'text'] as JsonValue[]) {
      const v = ok('authenticate', { verdict: 'ACCEPT', identity });
      assert.ok(v.verdict === 'ACCEPT');
      assert.equal(v.identity, undefined);
      assert.match(v.warnings.join(), /"identity" must be/);
    }
    const fromAuthorize = ok('authorize', { verdict: 'ACCEPT', identity: { issuer: 'i', subject: 's' } });
    assert.ok(fromAuthorize.verdict === 'ACCEPT');
    assert.equal(fromAuthorize.identity, undefined);
  });
  test('additional_metadata that is not a string is stored as JSON text, as the SDK does', () => {
    assert.equal(ok('authenticate', { verdict: 'ACCEPT', additional_metadata: { reason: 'x' } }).additionalMetadata, '{"reason":"x"}');
  });
});
