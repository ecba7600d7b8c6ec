import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { BastionError } from '../../src/core/errors.js';
import { chooseTarget, type Resolver } from '../../src/session/target-choice.js';
import { parseUsername } from '../../src/target/username.js';

// No DNS oracle before authentication (issue 15): an unknown name and a forbidden one read the same, and a
// name is resolved before authentication only when a rule with IP/CIDR entries needs its address.

const config = (hosts: string) => parseConfig(`listen: ["127.0.0.1:2222"]
policies:
  - name: p
    aa_plugin:
      name: demo_token
    targets:
      allow:
        - hosts: [${hosts}]
          ports: [22]
    target_auth:
      method: key
`, '/etc/gatehouse/config.yaml');

function request(raw: string) {
  const r = parseUsername(raw);
  assert.ok(r.ok);
  return r.request;
}

function recordingResolver(known: Record<string, string>): { resolve: Resolver; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolve: async (host) => {
      asked.push(host);
      const a = known[host];
      if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return a;
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<BastionError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BastionError);
    return err;
  }
  assert.fail('should be refused');
}

describe('target choice before authentication', () => {
  test('an unresolvable name and a forbidden one get the same code and user message', async () => {
    const cfg = config('10.0.0.0/8, "*.example.com"');
    const r = recordingResolver({ 'forbidden.test': '192.0.2.1' });
    const unknown = await refusal(chooseTarget(cfg, request('root@nosuch.test'), r.resolve));
    const forbidden = await refusal(chooseTarget(cfg, request('root@forbidden.test'), r.resolve));
    assert.equal(unknown.code, 'TARGET_NOT_ALLOWED');
    assert.equal(forbidden.code, unknown.code);
    assert.equal(unknown.userMessage.replace('nosuch', 'X'), forbidden.userMessage.replace('forbidden', 'X'));
    assert.match(unknown.message, /did not resolve/); // the admin still learns why
  });

  test('a slow resolver counts as not resolving, with the same refusal', async () => {
    const cfg = config('10.0.0.0/8');
    const slow: Resolver = () => new Promise(() => {});
    const err = await refusal(chooseTarget(cfg, request('root@slow.test'), slow, 50));
    assert.equal(err.code, 'TARGET_NOT_ALLOWED');
  });

  test('names are not resolved before authentication when no rule needs the address', async () => {
    const r = recordingResolver({ 'db01.example.com': '10.0.0.5' });
    const choice = await chooseTarget(config('"*.example.com"'), request('root@db01.example.com'), r.resolve);
    assert.deepEqual(r.asked, []);
    assert.equal(await refusal(chooseTarget(config('"*.example.com"'), request('root@anything.else'), r.resolve)).then((e) => e.code), 'TARGET_NOT_ALLOWED');
    assert.deepEqual(r.asked, [], 'an anonymous client cannot make Gatehouse resolve a name');
    // After authentication the login resolves it, once.
    const t = await choice.resolve();
    assert.equal(t.address, '10.0.0.5');
    assert.deepEqual(r.asked, ['db01.example.com']);
  });

  test('a CIDR rule resolves the name to decide, and the decision uses the address connected to', async () => {
    const r = recordingResolver({ 'db01.internal': '10.0.0.5', 'evil.test': '::ffff:127.0.0.1' });
    const choice = await chooseTarget(config('10.0.0.0/8'), request('root@db01.internal'), r.resolve);
    assert.equal(choice.target.address, '10.0.0.5');
    assert.equal((await choice.resolve()).address, '10.0.0.5');
    assert.deepEqual(r.asked, ['db01.internal']);
    // A name resolving to a mapped loopback address is loopback, which ::/0 does not admit.
    assert.equal((await refusal(chooseTarget(config('"::/0"'), request('root@evil.test'), r.resolve))).code, 'TARGET_NOT_ALLOWED');
  });
});
