import type { Logger } from 'pino';
import { PgBus, type BusMessage } from '../store/pg-bus.js';
import type { SessionControl, SessionSummary } from './control-protocol.js';

// Several Gatehouse hosts sharing one PostgreSQL (database.url): the control socket of any of them lists the
// live sessions of all of them and ends a session wherever it runs. The request goes to the other hosts over
// LISTEN/NOTIFY (store/pg-bus.ts); each answers from its own live sessions, so the list is as live as a local
// one (bytes, idle time) whatever the storage policy keeps in the database.

/** How long a list or terminate waits for the other hosts. */
const ASK_MS = 5_000;
/** Sessions per answer message, which must stay under PostgreSQL's 8000-byte NOTIFY limit. */
const PER_MESSAGE = 12;

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
      }
    };
    answer().catch((err: unknown) => log.error({ event: 'hosts.error', t: m.t, err: (err as Error).message }, 'could not answer another Gatehouse host'));
  };

  const control: SessionControl = {
    async list() {
      const [mine, hosts] = await Promise.all([local.list(), bus().hosts()]);
      const others = new Set(hosts.filter((h) => h !== bus().instance));
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
