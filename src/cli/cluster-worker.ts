import type { Logger } from 'pino';
import { createApp, type App } from '../app.js';
import type { Config } from '../config/config.js';
import { summary } from '../control/control-server.js';
import { parseIdentityLogout } from '../session/identity-logout.js';
import { workerLimits } from './cluster-ledger.js';
import { isToWorker, type FromWorker, type ToWorker } from './cluster-messages.js';
import { workerPenalties } from './cluster-penalties.js';

// One worker process of `workers: N`: a whole Gatehouse (its own sessions, plugin pools and runtime) on the
// listen sockets the cluster shares, without a control socket. The primary relays the administrators'
// requests and the reload and stop signals; the worker answers and reports its sessions as they come and go.

export interface WorkerProcess {
  readonly app: App;
}

export async function runWorker(config: Config, rootLog: Logger): Promise<WorkerProcess> {
  const log = rootLog.child({ worker: process.pid });
  const send = (m: FromWorker): boolean => {
    // The primary may be gone (it is then stopping us too): a lost report does no harm, a lost request fails.
    if (!process.connected || !process.send) return false;
    process.send(m, undefined, {}, () => undefined);
    return true;
  };
  // Session limits and penalties count across the workers: the primary keeps them.
  const limits = workerLimits(send, log);
  const app = await createApp(config, log, { worker: true, cluster: { ledger: limits.ledger, endElsewhere: limits.endElsewhere } });
  const penalties = workerPenalties(app.penalties, send);
  app.registry.watch({
    added: (s) => send({ t: 'session', open: true, session: summary(s, Date.now()) }),
    removed: (s) => send({ t: 'session', open: false, session: summary(s, Date.now()) }),
  });

  let stopping: Promise<unknown> | undefined;
  const stop = (why: string): Promise<unknown> => {
    stopping ??= (async () => {
      log.info({ event: 'worker.stopping', why }, 'worker stopping');
      const { drained } = await app.stop();
      log.flush();
      process.exitCode = drained ? 0 : 1;
      setImmediate(() => process.exit());
    })();
    return stopping;
  };

  const handle = async (m: ToWorker): Promise<void> => {
    if (m.t === 'shutdown') {
      await stop('the primary is stopping');
      return;
    }
    if (m.t === 'answer' || m.t === 'penalties') return; // taken before (cluster-ledger.ts, cluster-penalties.ts)
    try {
      if (m.t === 'list') send({ t: 'reply', id: m.id, sessions: await app.sessions.list() });
      else if (m.t === 'terminate') {
        const s = await app.sessions.terminate(m.session_id);
        send({ t: 'reply', id: m.id, sessions: s ? [s] : [] });
      } else if (m.t === 'end') {
        const s = await app.sessions.endForLimit(m.end);
        send({ t: 'reply', id: m.id, sessions: s ? [s] : [] });
      } else if (m.t === 'identity_logout') {
        const logout = parseIdentityLogout(m.logout);
        send({ t: 'reply', id: m.id, ended_ids: logout ? await app.sessions.endByIdentity(logout) : [] });
      } else if (m.t === 'reload') {
        await app.reload();
        log.info({ event: 'config.reloaded' }, 'configuration reloaded');
        send({ t: 'reply', id: m.id });
      }
    } catch (err) {
      send({ t: 'reply', id: m.id, error: (err as Error).message });
    }
  };
  process.on('message', (m: unknown) => {
    if (!isToWorker(m) || limits.onMessage(m) || penalties(m)) return;
    void handle(m);
  });
  // Orphaned (the primary died): stop serving rather than run unsupervised.
  process.on('disconnect', () => {
    limits.disconnected();
    void stop('the primary is gone');
  });
  // A terminal's Ctrl-C and SIGHUP reach the whole process group: the primary decides for all of us.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    await app.start();
  } catch (err) {
    await app.stop(0);
    throw err;
  }
  send({ t: 'ready' });
  return { app };
}
