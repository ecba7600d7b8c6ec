import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { configSchema } from '../../src/config/schema.js';
import { ROOT } from '../helpers/paths.js';

// The schema is the one home of every default: a section left out gets the same values as one written
// empty, and the README's config.yaml reference states each default the schema holds.

const MINIMAL = `listen: ["127.0.0.1:2222"]
policies:
  - name: p
    target: {host: 127.0.0.1}
    target_auth: {method: password}
`;

describe('config defaults', () => {
  test('a section left out takes the same defaults as one written empty', () => {
    const without = parseConfig(MINIMAL, '/c.yaml');
    const empty = parseConfig(`${MINIMAL}timeouts: {}\nlimits: {}\nplugin_pool: {}\nssh: {}\n`, '/c.yaml');
    assert.deepEqual(without, empty);
    assert.equal(without.timeouts.loginGraceMs, 300_000);
    assert.equal(without.ssh.clientAliveIntervalMs, 30_000);
  });

  test('a key set in a section keeps the other keys of that section at their defaults', () => {
    const c = parseConfig(`${MINIMAL}timeouts: {login_grace: 20}\n`, '/c.yaml');
    assert.equal(c.timeouts.loginGraceMs, 20_000);
    assert.equal(c.timeouts.targetConnectMs, 15_000);
  });

  test('the README states every top-level and section default the schema holds', () => {
    const raw = configSchema({ listen: ['127.0.0.1:1'], policies: [{ name: 'p', target_auth: { method: 'password' } }] }, [], { issues: [] });
    assert.ok(raw, 'the minimal raw config is valid');
    const rows = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').filter((l) => l.startsWith('| `'));
    const defaults: [string, unknown][] = [];
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'policies' || k === 'listen' || v === undefined) continue;
      if (v !== null && typeof v === 'object') {
        for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (v2 !== undefined) defaults.push([`${k}.${k2}`, v2]);
      } else defaults.push([k, v]);
    }
    assert.ok(defaults.length >= 15, `found ${defaults.length} defaults`);
    const missing = defaults.filter(([key, value]) => !rows.some((r) => r.includes(`\`${key}\``) && r.split('|')[2]?.includes(`\`${String(value)}\``)));
    assert.deepEqual(missing, [], 'README rows (key, then its default in the second column) for these schema defaults');
  });
});
