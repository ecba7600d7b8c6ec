import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SessionSummary } from '../../src/control/control-protocol.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { postLogoutToken, startTokenIssuer, type TokenIssuer } from '../helpers/logout-tokens.js';
import { sshArgs } from '../helpers/openssh.js';
import { startPostgres, type Postgres } from '../helpers/postgres.js';
import { scenarioHosts, scenarioPolicies, targetKnownHosts, type PolicySpec } from '../helpers/scenario.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// Identity-provider logout when Gatehouse scales out (docs/scale-out.md): with `workers: 2` the primary alone
// listens for back-channel logout tokens and one token ends the person's sessions on every worker; with two
// hosts sharing PostgreSQL, a token POSTed to one host ends the person's sessions on the other, and the same
// token replayed to either host ends nothing. Sessions are bound to an identity by the AA plugin's
// `identity` result, as the OIDC plugin does after its device flow.

const MESSAGE = /Your sign-in session ended at the identity provider\./;

/** Two policies whose plugin binds every session to alice's or bob's provider session at `issuer`. */
function specs(issuer: string): PolicySpec[] {
  const as = (subject: string): Record<string, unknown> => ({ authenticate_result: { verdict: 'ACCEPT', identity: { issuer, subject, sid: `sid-${subject}` } } });
  return [{ alias: 'alice', plugin: as('alice') }, { alias: 'bob', plugin: as('bob') }];
}

interface Client {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly exited: Promise<number | null>;
}

/** A logged-in ssh that stays up (`sleep`) until its session ends. */
function open(port: number, knownHosts: string, login: string): Client {
  const child = spawn('ssh', [...sshArgs({ port, knownHosts, login }), '127.0.0.1', 'sleep 300'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return { child, out: () => out, exited: new Promise((r) => child.once('exit', (c) => r(c))) };
}

/** Waits for the client to exit, failing after `ms`. */
async function ended(c: Client, what: string, ms = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms: ${c.out()}`)), ms); });
  try {
    await Promise.race([c.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('identity logout with workers: 2', () => {
  let sshd: Sshd;
  let op: TokenIssuer;
  let gh: GatehouseProcess;
  let port = 0;
  let url = '';
  const clients: Client[] = [];

  const sessions = async (): Promise<SessionSummary[]> => {
    const r = await gh.cli('sessions', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SessionSummary[];
  };

  before(async () => {
    [sshd, op] = await Promise.all([startSshd(), startTokenIssuer('gatehouse')]);
    gh = await startGatehouseProcess(sshd, specs(op.issuer), {
      workers: 2,
      identity_logout: { listen: '127.0.0.1:0', providers: [{ issuer: op.issuer, audience: 'gatehouse' }] },
    });
    await gh.waitFor('the workers and the logout listener', () => gh.logs.some((l) => l.event === 'identity.listening'), 90_000);
    port = Number(gh.logs.find((l) => l.event === 'server.listening')!['port']);
    url = `http://${gh.logs.find((l) => l.event === 'identity.listening')!['address'] as string}/backchannel-logout`;
    sshd.authorize(gh.clientKeyLine());
  });
  after(async () => {
    for (const c of clients) c.child.kill();
    await gh?.stop();
    await sshd?.stop();
    await op?.stop();
  });

  test('the primary alone listens for logout tokens', () => {
    const listening = gh.logs.filter((l) => l.event === 'identity.listening');
    assert.equal(listening.length, 1);
    assert.equal(listening[0]!['worker'], undefined, 'not a worker');
    assert.ok(gh.logs.some((l) => l.event === 'workers.ready'));
  });

  test('one token ends the person\'s sessions on both workers; another person\'s stays; the replay ends nothing', async () => {
    const knownHosts = gh.knownHosts(port);
    const alice = (list: SessionSummary[]): SessionSummary[] => list.filter((s) => s.policy === 'alice' && s.phase === 'active');
    // Connections go to the workers in turn: a few logins put alice on both.
    for (let i = 0; i < 6 && new Set(alice(await sessions()).map((s) => s.worker)).size < 2; i++) {
      clients.push(open(port, knownHosts, `${sshd.user}@alice`));
      await gh.waitFor(`alice's session ${i + 1}`, () => gh.logs.filter((l) => l.event === 'session.active').length >= i + 1, 60_000);
    }
    const bob = open(port, knownHosts, `${sshd.user}@bob`);
    let before = await sessions();
    await gh.waitFor('bob\'s session', () => before.some((s) => s.policy === 'bob' && s.phase === 'active'), 60_000, async () => { before = await sessions(); });
    const alices = alice(before);
    assert.equal(new Set(alices.map((s) => s.worker)).size, 2, `alice has sessions on both workers: ${JSON.stringify(alices)}`);

    const token = await op.sign({ sub: 'alice', sid: 'sid-alice' });
    const r = await postLogoutToken(url, token);
    assert.equal(r.status, 200, r.body);
    for (const [i, c] of clients.entries()) await ended(c, `alice's ssh ${i + 1}`);
    for (const c of clients) assert.match(c.out(), MESSAGE);
    // The primary's log reaches us through a pipe, maybe after the clients have gone.
    await gh.waitFor('the primary to log the logout', () => gh.logs.some((l) => l.event === 'identity.logout'));
    const line = gh.logs.find((l) => l.event === 'identity.logout')!;
    assert.equal(line['worker'], undefined);
    assert.deepEqual(new Set(line['sessions'] as string[]), new Set(alices.map((s) => s.session_id)), 'one line names every ended session');
    for (const s of alices) {
      await gh.waitFor(`${s.session_id} closed as idp_logout`, () => gh.logs.some((l) => l.sid === s.session_id && l.event === 'session.closed' && l['reason'] === 'idp_logout'));
    }
    const left = await sessions();
    assert.deepEqual(left.map((s) => s.policy), ['bob']);
    assert.equal(bob.child.exitCode, null, 'bob is still connected');

    const again = await postLogoutToken(url, token);
    assert.equal(again.status, 400);
    assert.match(again.body, /replay/);
    bob.child.kill();
  });
});

describe('identity logout across two hosts sharing PostgreSQL', () => {
  let sshd: Sshd;
  let op: TokenIssuer;
  let db: Postgres;
  const gh: Gatehouse[] = [];
  const clients: Client[] = [];

  const logoutUrl = (g: Gatehouse): string => `http://127.0.0.1:${g.app.identityAddress!.port}/backchannel-logout`;
  const login = (g: Gatehouse, who: string): Client => {
    const c = open(g.port, g.knownHosts, `${sshd.user}@${who}`);
    clients.push(c);
    return c;
  };
  const active = (g: Gatehouse, who: string): string[] => g.app.registry.list().filter((s) => s.policy?.name === who && s.phase === 'active' && !s.closed).map((s) => s.id);

  before(async () => {
    [sshd, op, db] = await Promise.all([startSshd(), startTokenIssuer('gatehouse'), startPostgres()]);
    const url = await db.createDatabase('gatehouse');
    const all = specs(op.issuer);
    for (const instance of ['gh-a', 'gh-b']) {
      gh.push(await startGatehouse({
        plugins: ['scripted'],
        policies: (ctx) => scenarioPolicies(ctx, sshd, all),
        files: () => targetKnownHosts(sshd),
        extra: () => ({
          hosts: scenarioHosts(sshd, all),
          database: { url, instance },
          identity_logout: { listen: '127.0.0.1:0', providers: [{ issuer: op.issuer, audience: 'gatehouse' }] },
        }),
      }));
      sshd.authorize(gh.at(-1)!.clientKeyLine);
    }
  });
  after(async () => {
    for (const c of clients) c.child.kill();
    for (const g of gh) await g.stop();
    await sshd?.stop();
    await op?.stop();
    await db?.stop();
  });

  test('a token POSTed to one host ends the person\'s sessions on both; a replay to either host ends nothing', async () => {
    const [a, b] = gh as [Gatehouse, Gatehouse];
    const onA = login(a, 'alice');
    const onB = login(b, 'alice');
    const bobOnB = login(b, 'bob');
    await a.waitFor('alice on both hosts and bob on B', () => active(a, 'alice').length === 1 && active(b, 'alice').length === 1 && active(b, 'bob').length === 1, 60_000);
    const ids = [...active(a, 'alice'), ...active(b, 'alice')];

    const token = await op.sign({ sub: 'alice', sid: 'sid-alice' });
    const r = await postLogoutToken(logoutUrl(a), token);
    assert.equal(r.status, 200, r.body);
    await ended(onA, 'alice\'s ssh on A');
    await ended(onB, 'alice\'s ssh on B');
    assert.match(onB.out(), MESSAGE);
    await b.waitFor('the other host to close hers as idp_logout', () => b.logs.some((l) => l.sid === ids[1] && l.event === 'session.closed' && l['reason'] === 'idp_logout'), 30_000);
    await a.waitFor('the receiving host to log the logout', () => a.logs.some((l) => l.event === 'identity.logout'));
    const line = a.logs.find((l) => l.event === 'identity.logout');
    assert.deepEqual(new Set(line?.['sessions'] as string[]), new Set(ids), 'the receiving host logs both hosts\' sessions');
    await b.waitFor('the other host to log whose token it was', () => b.logs.some((l) => l.event === 'identity.logout_remote' && l['from'] === 'gh-a' && (l['sessions'] as string[]).includes(ids[1]!)));
    assert.equal(bobOnB.child.exitCode, null, 'bob is still connected');

    // alice signs in again on B; the old token, replayed to B (which never saw it) or to A, ends nothing.
    const again = login(b, 'alice');
    await b.waitFor('alice again on B', () => active(b, 'alice').length === 1, 60_000);
    for (const g of [b, a]) {
      const replay = await postLogoutToken(logoutUrl(g), token);
      assert.equal(replay.status, 400, replay.body);
      assert.match(replay.body, /replay/);
    }
    await b.waitFor('the replay to be logged', () => b.logs.some((l) => l.event === 'identity.logout_rejected'));
    assert.match(b.logs.find((l) => l.event === 'identity.logout_rejected')!['reason'] as string, /on another Gatehouse host \(replay\)/);
    assert.equal(active(b, 'alice').length, 1);
    assert.equal(again.child.exitCode, null, 'the new session is still up');

    // The record behind it: the token's jti once, in the shared database.
    const c = new pg.Client({ connectionString: db.url('gatehouse') });
    await c.connect();
    const rows = (await c.query<{ n: string }>('SELECT count(*) AS n FROM gatehouse_logout_tokens WHERE issuer = $1', [op.issuer])).rows;
    await c.end();
    assert.equal(Number(rows[0]!.n), 1);
  });
});
