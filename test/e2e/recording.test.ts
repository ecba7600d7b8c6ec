import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gatehouse } from '../helpers/gatehouse.js';
import { runSsh } from '../helpers/openssh.js';
import { endedRow } from '../helpers/session-db.js';
import type { SessionRecord } from '../../src/store/session-db.js';
import { type PolicySpec, type Scenario, startScenario } from '../helpers/scenario.js';
import type { Sshd } from '../helpers/sshd.js';
import { Terminal } from '../helpers/terminal.js';
import { readJsonl } from '../helpers/jsonl.js';

// Policy record_sessions: terminal sessions are recorded as asciicast v2 files (asciinema play replays them),
// with what the target showed and nothing the user typed that was not echoed; the connection database points
// to them; a recording that cannot be made refuses the channel.

const SPECS: PolicySpec[] = [
  { alias: 'rec', plugin: {}, more: { record_sessions: true } },
  { alias: 'norec', plugin: {} },
];
const TYPED_SECRET = 'hunter2-typed';

interface Cast { header: Record<string, unknown>; events: [number, string, string][] }

function readCast(path: string): Cast {
  const [head, ...lines] = readFileSync(path, 'utf8').trimEnd().split('\n');
  return { header: JSON.parse(head!) as Record<string, unknown>, events: lines.map((l) => JSON.parse(l) as [number, string, string]) };
}

describe('session recording', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let scenario: Scenario | undefined;
  const login = (alias: string): string => `token=good@${sshd.user}@${alias}`;
  /** The connection database line of the session whose channel.open said `pred`. */
  const recordOf = (sid: string): Promise<SessionRecord> => endedRow(gh, sid);
  const lastSid = (): string => gh.logs.filter((l) => l.event === 'channel.open').at(-1)!.sid!;

  before(async () => {
    scenario = await startScenario(SPECS);
    ({ sshd, gh } = scenario);
  });
  after(async () => {
    await scenario?.stop();
  });

  test('a terminal session is recorded as asciicast: output, resizes, no unechoed input; the database points to it', async () => {
    const t = new Terminal('ssh', [
      '-F', '/dev/null', '-tt', '-p', String(gh.port), '-o', `UserKnownHostsFile=${gh.knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PubkeyAuthentication=no', '-l', login('rec'), '127.0.0.1',
    ], { cols: 101, rows: 31 });
    try {
      let at = await t.waitFor(/\$ $/);
      t.type('echo recorded-$((6*7))\r');
      at = await t.waitFor(/recorded-42\r\n/, at);
      // Echo off before the prompt shows, as for a password: what is typed now is never displayed.
      // The prompt is printed in pieces, so that the shell's echo of this command line does not match it.
      t.type('stty -echo; printf "Sec%s: " ret; read secret; stty echo; echo; echo got-${#secret}\r');
      at = await t.waitFor(/Secret: /, at);
      t.type(`${TYPED_SECRET}\r`);
      at = await t.waitFor(/got-13\r\n/, at);
      t.resize(120, 40);
      // The resize travels to the target on its own; ask until the shell sees it.
      for (let tries = 0; ; tries++) {
        t.type('stty size\r');
        const seen = await t.waitFor(/\d+ \d+\r\n/, at);
        const size = /(\d+ \d+)\r\n$/.exec(t.transcript.slice(0, seen))![1];
        at = seen;
        if (size === '40 120') break;
        assert.ok(tries < 20, 'the resize never reached the target');
        await new Promise((r) => setTimeout(r, 100));
      }
      t.type('exit\r');
      assert.equal(await t.exited, 0);
    } finally {
      t.kill();
    }
    assert.ok(!t.transcript.includes(TYPED_SECRET), 'the terminal did not show the secret');
    const sid = lastSid();
    await gh.waitFor('the channel to close', () => gh.logs.some((l) => l.event === 'channel.close' && l.sid === sid));
    const path = String(gh.logs.find((l) => l.event === 'recording.start' && l.sid === sid)!['path']);
    assert.match(path, new RegExp(`/data/recordings/\\d{4}-\\d{2}-\\d{2}/${sid}-\\d+\\.cast$`));
    assert.deepEqual((await recordOf(sid)).recordings, [path]);

    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
    const cast = readCast(path);
    assert.equal(cast.header['version'], 2);
    assert.equal(cast.header['width'], 101);
    assert.equal(cast.header['height'], 31);
    assert.deepEqual(cast.header['env'], { TERM: 'xterm-256color' });
    const output = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    assert.match(output, /recorded-42\r\n/);
    assert.match(output, /got-13\r\n/);
    assert.match(output, /40 120\r\n/);
    assert.ok(!readFileSync(path, 'utf8').includes(TYPED_SECRET), 'the recording holds nothing the user typed unechoed');
    assert.ok(cast.events.some((e) => e[1] === 'r' && e[2] === '120x40'), 'the resize is recorded');
    const times = cast.events.map((e) => e[0]);
    assert.ok(times.every((x, i) => i === 0 || x >= times[i - 1]!), 'event times never go back');
  });

  test('no terminal, or a policy without record_sessions: nothing is recorded', async () => {
    const plain = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('rec'), command: 'echo plain' });
    assert.equal(plain.stdout, 'plain\n', plain.stderr);
    assert.deepEqual((await recordOf(lastSid())).recordings, []);
    const other = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('norec'), command: 'echo x', options: ['-tt'] });
    assert.match(other.stdout, /x\r\n/, other.stderr);
    assert.deepEqual((await recordOf(lastSid())).recordings, []);
  });

  test('a recording that cannot be made: the terminal channel is refused, the user is told', async () => {
    const day = join(gh.dir, 'data', 'recordings', new Date().toISOString().slice(0, 10));
    rmSync(day, { recursive: true, force: true });
    mkdirSync(join(day, '..'), { recursive: true });
    writeFileSync(day, 'a file where the day folder goes');
    try {
      const r = await runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: login('rec'), command: 'echo should-not-run', options: ['-tt'] });
      assert.equal(r.code, 1);
      assert.doesNotMatch(r.stdout, /should-not-run/);
      assert.match(r.stdout + r.stderr, /this session must be recorded, and the recording could not be started/);
      assert.ok(gh.logs.some((l) => l.event === 'recording.failed'));
    } finally {
      rmSync(day, { force: true });
    }
  });
});
