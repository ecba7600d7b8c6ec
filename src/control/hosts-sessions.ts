import type { Logger } from 'pino';
import { parseIdentityLogout, type IdentityLogout } from '../session/identity-logout.js';
import { PgBus, type BusMessage } from '../store/pg-bus.js';
import type { SessionControl, SessionSummary } from './control-protocol.js';
import type { EndRequest } from '../session/shared-limits.js';

// Several Gatehouse hosts sharing one PostgreSQL (database.url): the control socket of any of them lists the
// live sessions of all of them and ends a session wherever it runs. The request goes to the other hosts over
// LISTEN/NOTIFY (store/pg-bus.ts); each answers from its own live sessions, so the list is as live as a local
// one (bytes, idle time) whatever the storage policy keeps in the database. An identity provider's logout
// taken by one host is passed to every other host the same way, and each ends its own matching sessions.

/** How long a list or terminate waits for the other hosts. */
const ASK_MS = 5_000;
/** Sessions per answer message, which must stay under PostgreSQL's 8000-byte NOTIFY limit. */
const PER_MESSAGE = 12;
/** Ended session ids per logout answer (36 characters each), also under the NOTIFY limit. */
const IDS_PER_ANSWER = 150;

export interface HostsSessions {
  readonly control: SessionControl;
  /** Give the bus's messages for this host to this. */
  readonly onMessage: (m: BusMessage) => void;
}

/** `local`: this host's sessions (every worker's, with workers). */
export function hostsSessionControl(local: SessionControl, bus: () => PgBus, log: Logger): HostsSessions {
  const mark = (s: SessionSummary): SessionSummary => ({ ...s, instance: bus().instance });

  const onMessage = (m: BusMessage): void => {
    const answer = async (): Promise<void> => {
      if (m.t === 'list') {
        const mine = (await local.list()).map(mark);
        const parts = Math.max(1, Math.ceil(mine.length / PER_MESSAGE));
        for (let i = 0; i < parts; i++) {
          await bus().reply(m, { part: i, parts, sessions: mine.slice(i * PER_MESSAGE, (i + 1) * PER_MESSAGE) });
        }
      } else if (m.t === 'terminate' && typeof m['session_id'] === 'string') {
        const s = await local.terminate(m['session_id']);
        // Only the host that had it answers: the asker stops waiting at the first answer.
        if (s) {
          log.warn({ event: 'control.terminate_remote', sid: s.session_id, from: m.from }, 'session terminated at the request of another Gatehouse host');
          await bus().reply(m, { session: mark(s) });
        }
      } else if (m.t === 'limit_end') {
        const end = parseEndRequest(m['end']);
        const s = end ? await local.endForLimit(end) : undefined;
        if (s) await bus().reply(m, { session: mark(s) });
      } else if (m.t === 'identity_logout') {
        const logout = parseIdentityLogout(m['logout']);
        if (!logout) return;
        const ended = await local.endByIdentity(logout);
        log.info({ event: 'identity.logout_remote', from: m.from, issuer: logout.issuer, jti: logout.jti, idpSid: logout.sid, sub: logout.sub, sessions: ended },
          `logout token ${logout.jti} taken by Gatehouse host ${m.from} ended ${ended.length} session(s) here`);
        // Every host answers (none ended is an answer too), so that the host that took the token knows when all have.
        await bus().reply(m, { sessions: ended.slice(0, IDS_PER_ANSWER), count: ended.length });
      }
    };
    answer().catch((err: unknown) => log.error({ event: 'hosts.error', t: m.t, err: (err as Error).message }, 'could not answer another Gatehouse host'));
  };

  const otherHosts = async (): Promise<Set<string>> => new Set((await bus().hosts()).filter((h) => h !== bus().instance));

  /** This host's sessions first (never held up by the others), then every other host's, until all answer. */
  const endByIdentity = async (logout: IdentityLogout): Promise<string[]> => {
    const mine = await local.endByIdentity(logout);
    try {
      const others = await otherHosts();
      if (others.size === 0) return mine;
      const answers = await bus().ask({ t: 'identity_logout', to: '*', logout }, ASK_MS, (all) => [...others].every((h) => all.some((a) => a.from === h)));
      const missing = [...others].filter((h) => !answers.some((a) => a.from === h));
      if (missing.length > 0) log.warn({ event: 'hosts.no_answer', hosts: missing, jti: logout.jti }, 'some Gatehouse hosts did not confirm the identity logout in time');
      return [...mine, ...answers.flatMap((a) => (a['sessions'] as string[] | undefined) ?? [])];
    } catch (err) {
      // This host's part is done; the others are logged as not reached rather than failing the provider's request.
      log.error({ event: 'hosts.error', t: 'identity_logout', jti: logout.jti, err: (err as Error).message }, 'could not pass the identity logout to the other Gatehouse hosts');
      return mine;
    }
  };

  const control: SessionControl = {
    endByIdentity,
    async list() {
      const [mine, others] = await Promise.all([local.list(), otherHosts()]);
      const parts = new Map<string, number>();
      const got = new Map<string, number>();
      const answers = others.size === 0 ? [] : await bus().ask({ t: 'list', to: '*' }, ASK_MS, (all) => {
        const last = all[all.length - 1]!;
        parts.set(last.from, Number(last['parts']));
        got.set(last.from, (got.get(last.from) ?? 0) + 1);
        return [...others].every((h) => got.get(h) !== undefined && got.get(h) === parts.get(h));
      });
      const missing = [...others].filter((h) => got.get(h) !== parts.get(h) || !got.has(h));
      if (missing.length > 0) log.warn({ event: 'hosts.no_answer', hosts: missing }, 'some Gatehouse hosts did not answer the session list in time');
      const remote = answers.flatMap((a) => (a['sessions'] as SessionSummary[] | undefined) ?? []);
      return [...mine.map(mark), ...remote].sort((a, b) => a.started_at.localeCompare(b.started_at));
    },
    async terminate(sessionId) {
      const s = await local.terminate(sessionId);
      if (s) return mark(s);
      const answers = await bus().ask({ t: 'terminate', to: '*', session_id: sessionId }, ASK_MS, (all) => all.length > 0);
      return answers[0]?.['session'] as SessionSummary | undefined;
    },
    async endForLimit(end) {
      const s = await local.endForLimit(end);
      if (s) return mark(s);
      // Only the host that has it answers, as for terminate.
      const answers = await bus().ask({ t: 'limit_end', to: '*', end }, ASK_MS, (all) => all.length > 0);
      return answers[0]?.['session'] as SessionSummary | undefined;
    },
  };
  return { control, onMessage };
}

export interface HostsLink {
  readonly control: SessionControl;
  /** Starts listening to the other hosts (before the control socket opens). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The control socket's view across hosts, for a process that has `local` and a database.url. */
export function hostsLink(local: SessionControl, database: { readonly url: string; readonly instance: string }, log: Logger): HostsLink {
  let bus: PgBus | undefined;
  const need = (): PgBus => {
    if (!bus) throw new Error('not connected to the other Gatehouse hosts');
    return bus;
  };
  const hosts = hostsSessionControl(local, need, log);
  return {
    control: hosts.control,
    async start() {
      bus = await PgBus.open(database.url, database.instance, hosts.onMessage);
      log.info({ event: 'hosts.listening', instance: database.instance }, 'listening to the other Gatehouse hosts on the shared database');
    },
    async close() {
      await bus?.close();
      bus = undefined;
    },
  };
}

/** An end request from another host, acted on only when well formed (the bus is shared by every host). */
export function parseEndRequest(v: unknown): EndRequest | undefined {
  const e = v as Partial<EndRequest> | null;
  if (typeof e !== 'object' || e === null || typeof e.session_id !== 'string' || typeof e.rule !== 'string' || typeof e.limit !== 'number') return undefined;
  const u = e.user as Partial<EndRequest['user']> | undefined;
  if (typeof u !== 'object' || u === null || typeof u.key !== 'string' || typeof u.label !== 'string') return undefined;
  return { session_id: e.session_id, rule: e.rule, limit: e.limit, user: { key: u.key, label: u.label } };
}
