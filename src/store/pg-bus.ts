import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { BastionError } from '../core/errors.js';
import { redactUrl } from './pg-store.js';

// Messages between Gatehouse hosts that share one PostgreSQL, over LISTEN/NOTIFY: no extra service to run.
// Every host listens on one channel; a message names the host it is for (or every host) and carries a request
// id, so that a host can ask ("end session X wherever it is") and wait for the answer of the host that had it.
// A NOTIFY is delivered only to hosts connected at the time: it is for what is live, never for what must last
// (that goes into the tables).

const CHANNEL = 'gatehouse_hosts';
/** PostgreSQL refuses NOTIFY payloads from 8000 bytes on. */
const MAX_PAYLOAD = 7900;
const RECONNECT_MS = 2_000;
const APP_PREFIX = 'gatehouse-host:';

export interface BusMessage {
  readonly t: string;
  /** Host the message is for; '*' for every host. */
  readonly to: string;
  readonly from: string;
  readonly req?: string;
  readonly [key: string]: unknown;
}

export type BusHandler = (m: BusMessage) => void;

export class PgBus {
  private listener: pg.Client | undefined;
  private readonly waiting = new Map<string, (m: BusMessage) => void>();
  private closed = false;
  private reconnect: NodeJS.Timeout | undefined;

  private constructor(private readonly url: string, readonly instance: string, private readonly pool: pg.Pool, private readonly onMessage: BusHandler) {}

  /** Listens as `instance`; `onMessage` gets every message for this host that is not an answer it waits for. */
  static async open(url: string, instance: string, onMessage: BusHandler): Promise<PgBus> {
    // A small pool of its own for sending and for hosts(); the listening connection is apart from it.
    const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined);
    const bus = new PgBus(url, instance, pool, onMessage);
    try {
      await bus.listen();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return bus;
  }

  private async listen(): Promise<void> {
    // The name lets the other hosts see this one in pg_stat_activity (hosts()), with no table to keep.
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, application_name: `${APP_PREFIX}${this.instance}`.slice(0, 63) });
    client.on('notification', (n) => this.deliver(n.payload));
    // A broken listening connection is replaced: messages sent meanwhile are lost, as they would be to a host
    // that was down (requests time out and say so).
    client.on('error', () => this.retry(client));
    client.on('end', () => this.retry(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new BastionError('STORE_UNAVAILABLE', `cannot listen for other Gatehouse hosts on ${redactUrl(this.url)}: ${(err as Error).message}`, { cause: err });
    }
    this.listener = client;
  }

  private retry(client: pg.Client): void {
    if (this.closed || this.listener !== client) return;
    this.listener = undefined;
    client.end().catch(() => undefined);
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.listen().catch(() => this.retry(client));
    }, RECONNECT_MS);
    this.reconnect.unref();
  }

  private deliver(payload: string | undefined): void {
    let m: BusMessage;
    try {
      m = JSON.parse(payload ?? '') as BusMessage;
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null || (m.to !== this.instance && m.to !== '*')) return;
    const answer = m.req !== undefined && m.t.endsWith('.reply') ? this.waiting.get(m.req) : undefined;
    if (answer) answer(m);
    else if (!m.t.endsWith('.reply')) this.onMessage(m);
  }

  /** The hosts listening now, this one included. */
  async hosts(): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      'SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1', [`${APP_PREFIX}%`]);
    return rows.map((r) => r.name.slice(APP_PREFIX.length));
  }

  async send(m: Omit<BusMessage, 'from'>): Promise<void> {
    const payload = JSON.stringify({ ...m, from: this.instance });
    if (Buffer.byteLength(payload) >= MAX_PAYLOAD) throw new BastionError('INTERNAL', `host message too long (${Buffer.byteLength(payload)} bytes)`);
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
  }

  /** Answers a request `m` from another host. */
  reply(m: BusMessage, body: Record<string, unknown>): Promise<void> {
    return this.send({ ...body, t: `${m.t}.reply`, to: m.from, req: m.req });
  }

  /**
   * Sends a request to every host (or one) and collects answers until `enough` says so or `timeoutMs` passes;
   * returns what came.
   */
  async ask(m: Omit<BusMessage, 'from' | 'req'>, timeoutMs: number, enough: (answers: BusMessage[]) => boolean): Promise<BusMessage[]> {
    const req = randomUUID();
    const answers: BusMessage[] = [];
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiting.delete(req);
        resolve(answers);
      };
      const timer = setTimeout(finish, timeoutMs);
      this.waiting.set(req, (a) => {
        answers.push(a);
        if (enough(answers)) finish();
      });
      this.send({ ...m, req }).catch((err: unknown) => {
        clearTimeout(timer);
        this.waiting.delete(req);
        reject(err);
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
