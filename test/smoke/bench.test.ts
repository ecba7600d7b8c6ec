import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/paths.js';

// The benchmark must keep working: a short run of three of its scenarios, checked through its JSON output.
// (The figures themselves are for people to read; `npm run bench` runs the full set.)

test('npm run bench (quick subset) measures the three routes and writes its JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-test-'));
  try {
    const out = join(dir, 'bench.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'build', 'bench', 'run.js'), '--quick', '--rounds', '1', '--only', 'logins,hooks,idle', '--json', out], {
      encoding: 'utf8', timeout: 240_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /vs direct/);
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      rows: { name: string; values: Record<string, number> }[];
      hooks: { javascript: { medianMs: number }; python: { medianMs: number } };
      idle: { sessions: number; answering: number };
      targets: { what: string; met?: boolean }[];
    };
    const latency = json.rows.find((x) => x.name.startsWith('login to command'))!;
    for (const route of ['direct', 'jump', 'gatehouse']) assert.ok(latency.values[route]! > 0, route);
    assert.ok(json.hooks.javascript.medianMs > 0 && json.hooks.python.medianMs > 0);
    assert.equal(json.idle.answering, json.idle.sessions);
    assert.ok(json.targets.length >= 3);
    // The memory target is set for 10,000 sessions: a run of fewer says it did not measure it.
    assert.equal(json.targets.find((t) => t.what.startsWith('10000 idle sessions'))?.met, undefined);
    assert.match(r.stdout, /\[not measured\] 10000 idle sessions/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run bench (quick, workers and store) compares workers: 2 with workers: 1 and storage persistent with none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-test-'));
  try {
    const out = join(dir, 'bench.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'build', 'bench', 'run.js'), '--quick', '--rounds', '1', '--only', 'workers,store', '--json', out], {
      encoding: 'utf8', timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(readFileSync(out, 'utf8')) as {
      workers: { loginsPerSecond: { one: number; two: number }; bulkMBps: { one: number; two: number; transfers: number } };
      store: { latencyMs: { persistent: number; none: number }; loginsPerSecond: { persistent: number; none: number } };
      targets: { what: string; met?: boolean }[];
    };
    const st = json.store;
    assert.ok(st.latencyMs.persistent > 0 && st.latencyMs.none > 0 && st.loginsPerSecond.persistent > 0 && st.loginsPerSecond.none > 0, JSON.stringify(st));
    assert.equal(typeof json.targets.find((t) => t.what.startsWith('connection database'))?.met, 'boolean');
    assert.match(r.stdout, /connection database: storage none -> persistent/);
    const { loginsPerSecond: l, bulkMBps: b } = json.workers;
    assert.ok(l.one > 0 && l.two > 0 && b.one > 0 && b.two > 0, JSON.stringify(json.workers));
    assert.equal(b.transfers, 4);
    assert.match(r.stdout, /workers: 2 beside workers: 1/);
    assert.match(r.stdout, /logins per second, 8 parallel clients \(curve25519\): [\d.]+ -> [\d.]+, ratio [\d.]+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run bench -- --help prints its usage; an unknown scenario is refused before anything starts', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'build', 'bench', 'run.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--only LIST/);
  const bad = run('--only', 'bulk,nope');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--only takes bulk,files,logins,store,hooks,idle,workers, not "nope"/);
});
