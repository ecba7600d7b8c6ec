import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseConfig, type Config } from '../config/config.js';
import type { SessionControl, SessionSummary } from '../control/control-protocol.js';
import { ControlServer } from '../control/control-server.js';
import { hostsLink } from '../control/hosts-sessions.js';
import { BastionError } from '../core/errors.js';
import { startIdentityLogout, type IdentityLogoutService } from '../identity/logout-service.js';
import { ensureHostKeys, ensureKey } from '../ssh2x/keys.js';
import { openConnectionDb, type ConnectionDb } from '../store/connection-db.js';
import { PgAdmissions } from '../store/pg-admissions.js';
import { primaryLimits } from './cluster-ledger.js';
import { isFromWorker, type FromWorker, type ToWorker } from './cluster-messages.js';
import { primaryPenalties } from './cluster-penalties.js';

// `workers: N` above 1: this process serves no SSH itself. It forks N workers (node:cluster, which shares the
// listen sockets among them and hands each new connection to the next worker in turn), owns the control
// socket and answers it by asking every worker, passes reloads and stops on, and replaces a worker that
// dies. It also owns the back-channel logout listener (identity_logout) and passes each valid token to every
// worker. Workers get the configuration text from here, so that a replacement starts on the configuration
// the others run, even when config.yaml has since been edited into something invalid.

/** Environment variable carrying the last valid config.yaml text to a worker. */
export const CONFIG_TEXT_ENV = 'GATEHOUSE_CONFIG_TEXT';
const ASK_MS = 5_000;
const RELOAD_MS = 120_000;
const START_MS = 120_000;
/** A worker that dies this soon after its start is restarted after a pause, so that a crash loop does not spin. */
const QUICK_DEATH_MS = 10_000;
const RESTART_PAUSE_MS = 2_000;

interface WorkerState {
  readonly worker: Worker;
  readonly pid: number;
  readonly startedAt: number;
  ready: boolean;
  /** Its live sessions as last reported, to account for them if it dies. */
  readonly sessions: Map<string, SessionSummary>;
}

export interface Primary {
  readonly pids: () => number[];
  reload(): Promise<void>;
  stop(): Promise<{ drained: boolean }>;
}

/** Keys are made once here, before the workers race to make them. */
function ensureKeys(config: Config): void {
  ensureHostKeys(config.keysDir);
  for (const p of config.policies) if (p.targetAuth.method === 'key') ensureKey(p.targetAuth.keyFile, 'ed25519', 'gatehouse-client');
  if (config.demoTarget) ensureKey(join(config.keysDir, 'demo_target_ed25519'), 'ed25519', 'gatehouse-demo-target');
}

/** The rows of a dead worker's sessions: ended as crashed, at the time its loss was noticed. */
async function recordCrashed(db: ConnectionDb, lost: readonly SessionSummary[], now: number, log: Logger): Promise<void> {
  const at = new Date(now).toISOString();
  await Promise.all(lost.map((s) => db.store.patch(s.session_id, {
    ended_at: at, updated_at: at, end_reason: 'crashed', end_code: 'WORKER_CRASHED', bytes_to_target: s.bytes_to_target, bytes_to_client: s.bytes_to_client,
  }).catch((err: unknown) => log.error({ event: 'store.error', err, sid: s.session_id }, 'could not record a crashed session'))));
}

export async function runPrimary(config: Config, configText: string, log: Logger): Promise<Primary> {
  ensureKeys(config);
  let current = config;
  let goodText = configText;
  let stopping = false;
  let nextId = 1;
  const workers = new Map<number, WorkerState>();
  const pending = new Map<number, (m: Extract<FromWorker, { t: 'reply' }> | undefined) => void>();
  // The primary alone recovers crashed rows, imports sessions.jsonl and runs expiry; workers only write.
  let db: ConnectionDb | undefined;
  let ledger: PgAdmissions | undefined;
  let identity: IdentityLogoutService | undefined;
  cluster.setupPrimary({ serialization: 'json' });

  const ask = (w: WorkerState, msg: ToWorker & { id: number }, timeoutMs = ASK_MS): Promise<Extract<FromWorker, { t: 'reply' }> | undefined> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => { pending.delete(msg.id); resolve(undefined); }, timeoutMs);
      pending.set(msg.id, (m) => { clearTimeout(timer); pending.delete(msg.id); resolve(m); });
      w.worker.send(msg, undefined, (err: Error | null) => { if (err) pending.get(msg.id)?.(undefined); });
    });
  const live = (): WorkerState[] => [...workers.values()].filter((w) => w.ready);
  const tell = (w: WorkerState, m: ToWorker): void => {
    if (w.worker.isConnected()) w.worker.send(m, undefined, () => undefined);
  };
  // The session limits and penalties of every worker are kept here (cluster-ledger.ts, cluster-penalties.ts).
  const penalties = primaryPenalties(() => current.penalties, log, (m) => { for (const w of workers.values()) tell(w, m); });
  const limits = primaryLimits({
    log,
    endOnWorkers: async (end) => (await Promise.all(live().map((w) => ask(w, { t: 'end', id: nextId++, end })))).some((r) => (r?.sessions ?? []).length > 0),
    endOnHosts: () => (hosts ? (end) => hosts.control.endForLimit(end) : undefined),
  });

  const fork = (): WorkerState => {
    const worker = cluster.fork({ [CONFIG_TEXT_ENV]: goodText });
    const state: WorkerState = { worker, pid: worker.process.pid ?? 0, startedAt: Date.now(), ready: false, sessions: new Map() };
    workers.set(worker.id, state);
    log.info({ event: 'worker.started', worker: state.pid }, 'worker started');
    worker.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      if (m.t === 'ready') {
        state.ready = true;
        const known = penalties.snapshot();
        if (known) tell(state, known);
      } else if (m.t === 'reply') pending.get(m.id)?.(m);
      else if (m.t === 'session') {
        if (m.open) state.sessions.set(m.session.session_id, m.session);
        else state.sessions.delete(m.session.session_id);
      } else if (!penalties.handle(m)) limits.handle({ pid: state.pid, send: (x) => tell(state, x) }, m);
    });
    worker.on('error', (err: Error) => log.warn({ event: 'worker.error', worker: state.pid, err: err.message }, 'worker channel error'));
    return state;
  };

  cluster.on('exit', (worker, code, signal) => {
    const state = workers.get(worker.id);
    if (!state) return;
    workers.delete(worker.id);
    limits.workerGone(state.pid);
    if (stopping) return;
    const lost = [...state.sessions.values()];
    log.error({ event: 'worker.lost', worker: state.pid, code, signal, sessions: lost.map((s) => s.session_id) },
      `worker ${state.pid} died (${signal ?? `exit ${code}`}); its ${lost.length} session(s) ended as crashed; starting a replacement`);
    const now = Date.now();
    if (db) void recordCrashed(db, lost, now, log);
    for (const s of lost) ledger?.release(s.session_id).catch(() => undefined);
    if (!state.ready) return; // one that never started is not restarted (start-up reports it)
    const pause = now - state.startedAt < QUICK_DEATH_MS ? RESTART_PAUSE_MS : 0;
    setTimeout(() => { if (!stopping) fork(); }, pause).unref();
  });

  const sessions: SessionControl = {
    async list() {
      const replies = await Promise.all(live().map(async (w) => {
        const r = await ask(w, { t: 'list', id: nextId++ });
        for (const s of r?.sessions ?? []) w.sessions.set(s.session_id, s);
        return r?.sessions ?? [];
      }));
      return replies.flat().sort((a, b) => a.started_at.localeCompare(b.started_at));
    },
    async terminate(sessionId) {
      const replies = await Promise.all(live().map((w) => ask(w, { t: 'terminate', id: nextId++, session_id: sessionId })));
      return replies.flatMap((r) => r?.sessions ?? [])[0];
    },
    async endForLimit(end) {
      const replies = await Promise.all(live().map((w) => ask(w, { t: 'end', id: nextId++, end })));
      return replies.flatMap((r) => r?.sessions ?? [])[0];
    },
    async endByIdentity(logout) {
      const replies = await Promise.all(live().map(async (w) => ({ w, r: await ask(w, { t: 'identity_logout', id: nextId++, logout }) })));
      const silent = replies.filter(({ r }) => !r || r.error).map(({ w }) => w.pid);
      if (silent.length > 0) log.error({ event: 'identity.error', jti: logout.jti, workers: silent }, 'some workers did not confirm the identity logout');
      return replies.flatMap(({ r }) => r?.ended_ids ?? []);
    },
  };
  const hosts = config.database ? hostsLink(sessions, config.database, log) : undefined;
  const control = new ControlServer(config.controlSocket, hosts?.control ?? sessions, log, undefined, penalties.control);

  const stop = async (): Promise<{ drained: boolean }> => {
    stopping = true;
    await identity?.close();
    control.close();
    await hosts?.close();
    const all = [...workers.values()];
    log.info({ event: 'shutdown.start', workers: all.map((w) => w.pid) }, 'shutting down the workers');
    const exits = all.map((w) => new Promise<boolean>((resolve) => {
      if (w.worker.isDead()) return resolve(true);
      w.worker.once('exit', (code: number) => resolve(code === 0));
    }));
    for (const w of all) if (w.worker.isConnected()) w.worker.send({ t: 'shutdown' } satisfies ToWorker, undefined, () => undefined);
    // Each worker keeps timeouts.shutdown itself; the margin covers its exit.
    const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), current.timeouts.shutdownMs + 5_000).unref());
    const done = await Promise.race([Promise.all(exits), deadline]);
    if (done === 'late') {
      for (const w of all) if (!w.worker.isDead()) w.worker.process.kill('SIGKILL');
      log.error({ event: 'shutdown.deadline' }, 'workers still running after the shutdown deadline were killed');
    }
    await db?.close();
    await ledger?.close().catch(() => undefined);
    log.info({ event: 'shutdown.done' }, 'stopped');
    return { drained: done !== 'late' && done.every(Boolean) };
  };

  // Start: the control socket first (it refuses to start beside a running Gatehouse on this state_dir, whose
  // live rows crash recovery would otherwise close), then the database, then the workers, all of which must
  // come up, or none serves.
  try {
    await hosts?.start();
    await control.listen();
    db = await openConnectionDb(config.stateDir, () => current.sessions, log, { database: config.database });
    if (config.database) {
      ledger = await PgAdmissions.open(config.database.url, config.database.instance);
      await ledger.forgetOwn(); // the places this host held before it last stopped
    }
  } catch (err) {
    stopping = true;
    control.close();
    await hosts?.close();
    await db?.close().catch(() => undefined);
    await ledger?.close().catch(() => undefined);
    throw err;
  }
  const started = Array.from({ length: config.workers }, () => fork());
  const up = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`not all workers were ready within ${START_MS} ms`), START_MS);
    const check = (): void => {
      if (started.some((w) => w.worker.isDead())) { clearTimeout(timer); resolve('a worker exited while starting (its error is above)'); }
      else if (started.every((w) => w.ready)) { clearTimeout(timer); resolve(undefined); }
    };
    for (const w of started) {
      w.worker.on('message', check);
      w.worker.once('exit', check);
    }
  });
  if (up !== undefined) {
    await stop();
    throw new BastionError('WORKER_START_FAILED', up);
  }
  log.info({ event: 'workers.ready', workers: started.map((w) => w.pid) }, `${started.length} workers serving`);
  if (config.identityLogout) {
    try {
      identity = await startIdentityLogout(config.identityLogout, config.database, hosts?.control ?? sessions, log);
    } catch (err) {
      await stop();
      throw err;
    }
  }

  return {
    pids: () => [...workers.values()].map((w) => w.pid),
    async reload() {
      // Validated here first: an invalid file reaches no worker, and all keep the configuration they have.
      const text = readFileSync(config.file, 'utf8');
      const next = parseConfig(text, config.file);
      if (next.workers !== current.workers) log.warn({ event: 'config.restart_needed' }, 'the number of workers changes only on restart');
      const replies = await Promise.all(live().map(async (w) => ({ w, r: await ask(w, { t: 'reload', id: nextId++ }, RELOAD_MS) })));
      goodText = text;
      current = next;
      const failed = replies.filter(({ r }) => !r || r.error);
      if (failed.length > 0) {
        throw new BastionError('RELOAD_FAILED', `reload failed in worker(s) ${failed.map(({ w, r }) => `${w.pid}: ${r?.error ?? 'no answer'}`).join('; ')}`);
      }
    },
    stop,
  };
}
