import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/paths.js';

// Gatehouse's safeguard.sessions.plugin package (src/plugins/sdk) is Python: its unit tests are Python
// unittest files in test/unit/sdk, run here against the copy the test build put in build/, through the same
// interpreter Gatehouse uses by default, so that `npm test` runs them.

const PYTHON = '/usr/bin/python3';

test('the SDK\'s Python unit tests pass (configuration, responses, ConnectionInfo, pipeline, runner)', () => {
  const sdk = join(ROOT, 'build', 'src', 'plugins', 'sdk');
  const tests = join(ROOT, 'test', 'unit', 'sdk');
  const r = spawnSync(PYTHON, ['-B', '-m', 'unittest', 'discover', '-b', '-v', '-s', tests, '-t', tests], {
    encoding: 'utf8',
    timeout: 240_000,
    env: {
      ...process.env,
      PYTHONPATH: [sdk, tests].join(':'),
      PYTHONDONTWRITEBYTECODE: '1',
      GATEHOUSE_PYTHON_HOST: join(ROOT, 'build', 'src', 'plugins', 'python-host.py'),
    },
  });
  assert.equal(r.error, undefined, String(r.error));
  const summary = /^Ran (\d+) tests?/m.exec(r.stderr);
  assert.ok(summary && Number(summary[1]) >= 25, `too few Python tests ran:\n${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
});
