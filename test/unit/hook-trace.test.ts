import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AnswerMask, type HookTrace } from '../../src/session/hook-trace.js';

// What a hook trace may show: answers typed with echo on, never no-echo answers or answers given in the user
// name (also where a plugin copied them), never a credential store's passwords or keys.

const trace = (over: Partial<HookTrace>): HookTrace => ({
  plugin: 'p', hook: 'authenticate', ms: 1,
  args: { session_id: 's', cookie: {}, session_cookie: {}, key_value_pairs: {} },
  outcome: { ok: true, result: { verdict: 'ACCEPT' } },
  cookieAfter: {}, sessionCookieAfter: {},
  ...over,
});

describe('AnswerMask', () => {
  test('key_value_pairs: echoed answers shown, no-echo and user-name answers masked, also when copied elsewhere', () => {
    const m = new AnswerMask();
    m.secret('pre-given-1');
    m.shown('user', 'alice');
    m.secret('otp-secret-42');
    const shown = m.show(trace({
      args: { session_id: 's', cookie: { last: 'otp-secret-42' }, session_cookie: {}, key_value_pairs: { user: 'alice', otp: 'otp-secret-42', pin: 'pre-given-1', other: 'x' } },
      outcome: { ok: true, result: { verdict: 'ACCEPT', additional_metadata: 'otp was otp-secret-42' } },
      sessionCookieAfter: { questions: { otp: 'otp-secret-42' } },
    }));
    assert.deepEqual(shown.args['key_value_pairs'], { user: 'alice', otp: '***', pin: '***', other: '***' });
    assert.deepEqual(shown.cookie.before, { last: '***' });
    assert.deepEqual(shown.result, { verdict: 'ACCEPT', additional_metadata: 'otp was ***' });
    assert.deepEqual(shown.session_cookie.after, { questions: { otp: '***' } });
    assert.equal('cookie' in shown.args, false);
    assert.ok(!JSON.stringify(shown).includes('otp-secret-42') && !JSON.stringify(shown).includes('pre-given-1'));
  });

  test('a short secret is masked where a value equals it, not inside every number', () => {
    const m = new AnswerMask();
    m.secret('12');
    const shown = m.show(trace({ args: { session_id: 's', cookie: { code: '12', port: '2212' }, session_cookie: {}, key_value_pairs: { pin: '12' } } }));
    assert.deepEqual(shown.cookie.before, { code: '***', port: '2212' });
  });

  test('credential store results and the gateway password are masked; failures are shown with their code', () => {
    const m = new AnswerMask();
    const keys = m.show(trace({ hook: 'get_private_key_list', outcome: { ok: true, result: { private_keys: [['ssh-ed25519', '-----BEGIN...']], passwords: ['pw'] } } }));
    assert.deepEqual(keys.result, { private_keys: [['ssh-ed25519', '***']], passwords: ['***'] });
    const pw = m.show(trace({ args: { session_id: 's', cookie: {}, session_cookie: {}, gateway_password: 'gw' } }));
    assert.equal(pw.args['gateway_password'], '***');
    const failed = m.show(trace({ outcome: { ok: false, code: 'PLUGIN_THREW', message: 'Error: boom' } }));
    assert.deepEqual(failed.error, { code: 'PLUGIN_THREW', message: 'Error: boom' });
  });
});
