import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkApi, parseManifest } from '../../src/plugins/manifest.js';

// spec 2.2, 2.3, 11.22, 11.23: MANIFEST fields and API version rules.

const HOST = { api: { major: 1, minor: 3 }, product: '6.2.0' };

const manifest = (extra: Record<string, string> = {}, drop: string[] = []): string => {
  const fields: Record<string, string> = { name: 'SPS_RADIUS', description: 'RADIUS MFA', version: '2.0.3', type: 'aa', api: '1.1', ...extra };
  return Object.entries(fields).filter(([k]) => !drop.includes(k)).map(([k, v]) => `${k}: ${v}`).join('\n');
};

function errors(text: string): string[] {
  const r = parseManifest(text, 'MANIFEST', HOST);
  assert.equal(r.ok, false, 'should be refused');
  return r.ok ? [] : r.errors;
}

describe('parseManifest', () => {
  test('the documentation example is accepted; values stay strings as written', () => {
    const r = parseManifest(manifest({ entry_point: 'main.py', version: '1.10' }), 'MANIFEST', HOST);
    assert.ok(r.ok);
    if (r.ok) {
      assert.equal(r.manifest.name, 'SPS_RADIUS');
      assert.equal(r.manifest.version, '1.10');
      assert.equal(r.manifest.api, '1.1');
      assert.equal(r.manifest.entryPoint, 'main.py');
    }
  });
  test('unknown keys (author_name, author_email) are ignored', () => {
    assert.ok(parseManifest(manifest({ author_name: 'x', author_email: 'x@example.com', author: 'y' }), 'MANIFEST', HOST).ok);
  });
  test('each required field missing is named', () => {
    for (const f of ['name', 'description', 'version', 'type', 'api']) {
      assert.ok(errors(manifest({}, [f])).some((e) => e.includes(`"${f}" is required`)), f);
    }
  });
  test('name must match ^[A-Za-z][A-Za-z0-9_]*$', () => {
    for (const n of ['1abc', 'my-plugin', 'a b', 'at@sign', '_x']) {
      assert.ok(errors(manifest({ name: JSON.stringify(n) })).some((e) => e.includes('"name"')), n);
    }
    assert.ok(parseManifest(manifest({ name: 'Abc_12' }), 'MANIFEST', HOST).ok);
  });
  test('version must start with a digit; type must be aa or credentialstore', () => {
    assert.ok(errors(manifest({ version: 'v1.0' })).some((e) => e.includes('"version"')));
    assert.ok(errors(manifest({ type: 'signingca' })).some((e) => e.includes('"type"')));
    assert.ok(parseManifest(manifest({ type: 'credentialstore' }), 'MANIFEST', HOST).ok);
  });
  test('api: host 1.3 accepts 1.0-1.3, refuses 1.4 and 2.0 (spec 2.3 example)', () => {
    for (const ok of ['1.0', '1.1', '1.2', '1.3']) assert.ok(parseManifest(manifest({ api: ok }), 'MANIFEST', HOST).ok, ok);
    for (const no of ['1.4', '2.0', '0.9']) assert.ok(errors(manifest({ api: no })).some((e) => e.includes('"api"') && e.includes('not supported')), no);
    assert.ok(errors(manifest({ api: 'one' })).some((e) => e.includes('<major>.<minor>')));
  });
  test('three-part api values such as 1.7.0 count by major.minor (spec 11.23)', () => {
    assert.equal(checkApi('1.7.0', { major: 1, minor: 9 }), undefined);
    assert.match(checkApi('1.7.0', { major: 1, minor: 6 })!, /not supported/);
  });
  test('scb_min_version / scb_max_version, with ~ as an exclusive bound', () => {
    assert.ok(parseManifest(manifest({ scb_min_version: '5.10.0', scb_max_version: '6.2.0' }), 'MANIFEST', HOST).ok);
    assert.ok(errors(manifest({ scb_min_version: '6.3.0' })).some((e) => e.includes('"scb_min_version"')));
    assert.ok(errors(manifest({ scb_max_version: '6.2.0~' })).some((e) => e.includes('"scb_max_version"')));
    assert.ok(parseManifest(manifest({ scb_max_version: '6.3.0~' }), 'MANIFEST', HOST).ok);
    assert.ok(errors(manifest({ scb_max_version: '6.1.9' })).some((e) => e.includes('"scb_max_version"')));
  });
  test('entry_point must stay inside the plugin', () => {
    assert.ok(errors(manifest({ entry_point: '../evil.js' })).some((e) => e.includes('"entry_point"')));
    assert.ok(errors(manifest({ entry_point: '/abs/main.js' })).some((e) => e.includes('"entry_point"')));
    assert.ok(parseManifest(manifest({ entry_point: 'lib/main.ts' }), 'MANIFEST', HOST).ok);
  });
  test('not YAML, or not a mapping, or a doubled key', () => {
    assert.match(errors('name: [unclosed')[0]!, /not valid YAML/);
    assert.match(errors('- a\n- b')[0]!, /mapping/);
    assert.match(errors(`${manifest()}\nname: again`)[0]!, /not valid YAML/);
    assert.ok(errors(manifest({ name: '[a, b]' })).some((e) => e.includes('single value')));
  });
  test('every problem is reported at once', () => {
    assert.equal(errors('name: 1x\nversion: x\ntype: zz\napi: 9.9').length, 5);
  });
});
