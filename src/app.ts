import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile, type Config } from './config/config.js';
import type { SessionControl } from './control/control-protocol.js';
import { ControlServer, localSessionControl } from './control/control-server.js';
import { hostsLink } from './control/hosts-sessions.js';
import { DemoTarget } from './demo/demo-target.js';
import { settleWithin } from './core/deadline.js';
import { BastionError } from './core/errors.js';
import { PluginCache } from './plugins/plugin-cache.js';
import { buildRuntime, type Runtime } from './session/runtime.js';
import { startIdentityLogout, type IdentityLogoutService } from './identity/logout-service.js';
import { startLiveCode, type LiveCode } from './session/live-code.js';
import { SessionRegistry } from './session/registry.js';
import { pgLedger, type EndRequest, type LimitLedger } from './session/shared-limits.js';
import type { Penalties } from './ssh/penalties.js';
import { SshServer } from './ssh/server.js';
import { checkSsh2Internals } from './ssh2x/internals.js';
import { cryptoBindingAvailable } from './ssh2x/protocol-extras.js';
import { openConnectionDb, type ConnectionDb } from './store/connection-db.js';
import { PgAdmissions } from './store/pg-admissions.js';

// The composition root: builds the runtime snapshot, the session store and registry, the SSH server, the
// control socket, the idle sweep and the demo target, and owns start, reload and a deadline-bound stop.
// Signals are wired in cli/main.ts only.

/** How often idle sessions are looked for: an idle_timeout is kept to within this. */
const IDLE_SWEEP_MS = 1_000;

export interface App {
  readonly registry: SessionRegistry;
  /** The per-source penalties the SSH server refuses at accept by (a worker mirrors its primary's). */
  readonly penalties: Penalties;
  /** This process's sessions as the control socket sees them (a worker answers its primary with it). */
  readonly sessions: SessionControl;
  readonly runtime: () => Runtime;
  /** Listening addresses, in config order. */
  readonly addresses: readonly AddressInfo[];
  readonly demoAddress: AddressInfo | undefined;
  /** The back-channel logout listener's address, when identity_logout is configured. */
  readonly identityAddress: AddressInfo | undefined;
  start(): Promise<void>;
  /** Re-reads the config file and plugins; on any error the previous snapshot keeps serving. */
  reload(): Promise<void>;
  /** Stops listening, ends every session (session_ended included) within the deadline, frees resources. */
  stop(deadlineMs?: number): Promise<{ drained: boolean }>;
}

/** The settings applied at start only, as one comparable text (the target_alive ones apply per session). */
function startOnly(config: Config): string {
  const { targetAliveIntervalMs, targetAliveCountMax, ...clientSsh } = config.ssh;
  const { listen, keysDir, gc, controlSocket, demoTarget, workers, database, identityLogout } = config;
  return JSON.stringify({ listen, keysDir, gc, clientSsh, controlSocket, demoTarget, workers, database, identityLogout });
}

export interface AppOptions {
  /**
   * A worker process of `workers: N`: the primary owns the control socket (and asks the workers), crash
   * recovery, the jsonl import and expiry.
   */
  readonly worker?: boolean;
  /** `gatehouse serve --dev`: watch plugins and config whatever config.yaml says, trace every hook call, and
   * show refused users the plugin's reason and the error code. */
  readonly dev?: boolean;
  /**
   * A worker: the session limits are decided by the primary over every worker (`ledger`, used without a
   * database), and a session to end on another worker or host is ended through it (`endElsewhere`).
   */
  readonly cluster?: { readonly ledger: LimitLedger; readonly endElsewhere: (end: EndRequest) => Promise<unknown> };
}

export async function createApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
  checkSsh2Internals(); // a coded start-up error if the installed ssh2 lacks what ssh2x/ relies on
  if (!cryptoBindingAvailable()) {
    log.error({ event: 'crypto.binding_missing', code: 'CRYPTO_BINDING_MISSING' },
      'ssh2 native crypto binding is not built: throughput will be about ten times lower. Fix: npm rebuild ssh2 (needs python3, make and g++)');
  }
  const ephemeral = mkdtempSync(join(tmpdir(), 'gatehouse-'));
  // One set of loaded plugins for every snapshot: a reload loads only the plugins whose files changed.
  const plugins = new PluginCache();
  let runtime: Runtime;
  try {
    runtime = await buildRuntime(config, log, ephemeral, { dev: opts.dev === true, plugins });
  } catch (err) {
    rmSync(ephemeral, { recursive: true, force: true });
    throw err;
  }
  const registry = new SessionRegistry();
  // Opened in start(), once the control socket has shown that no other Gatehouse uses this state_dir (its crash
  // recovery would otherwise close that one's live sessions).
  let db: ConnectionDb | undefined;
  let ledger: PgAdmissions | undefined;
  const server = new SshServer({
    runtime: () => runtime, log, registry,
    db: () => {
      if (!db) throw new Error('connection database not open');
      return db;
    },
  });
  const sessions = localSessionControl(registry, log);
  // With a shared database, the control socket sees and ends the sessions of every Gatehouse host.
  const hosts = !opts.worker && config.database ? hostsLink(sessions, config.database, log) : undefined;
  const control = opts.worker ? undefined : new ControlServer(config.controlSocket, hosts?.control ?? sessions, log, undefined, server.penalties);
  // The back-channel logout listener: a worker has none (its primary owns it and passes valid tokens on).
  let identity: IdentityLogoutService | undefined;
  const addresses: AddressInfo[] = [];
  let demo: DemoTarget | undefined;
  let demoAddress: AddressInfo | undefined;
  let reloading: Promise<unknown> = Promise.resolve();
  let live: LiveCode | undefined;
  const idleSweep = setInterval(() => registry.sweepIdle(Date.now()), IDLE_SWEEP_MS);
  idleSweep.unref();

  const app: App = {
    registry,
    penalties: server.penalties,
    sessions,
    runtime: () => runtime,
    addresses,
    get demoAddress() {
      return demoAddress;
    },
    get identityAddress() {
      return identity?.address;
    },
    async start() {
      if (config.demoTarget) {
        demo = new DemoTarget(config.keysDir, [...new Set(config.policies.flatMap((p) => (p.targetAuth.method === 'key' ? [runtime.clientKey(p.targetAuth.keyFile)] : [])))], log);
        demoAddress = await demo.listen(config.demoTarget.listen);
      }
      await hosts?.start();
      await control?.listen();
      db = await openConnectionDb(config.stateDir, () => runtime.config.sessions, log, { worker: opts.worker ?? false, database: config.database });
      if (config.database) {
        // The session limits hold across the hosts sharing the database (a worker's primary clears its
        // host's old places, as it does crash recovery).
        ledger = await PgAdmissions.open(config.database.url, config.database.instance);
        if (!opts.worker) await ledger.forgetOwn();
        registry.share(pgLedger(ledger), opts.cluster?.endElsewhere ?? (async (end) => hosts?.control.endForLimit(end)));
      } else if (opts.cluster) {
        registry.share(opts.cluster.ledger, opts.cluster.endElsewhere);
      }
      if (config.identityLogout && !opts.worker) identity = await startIdentityLogout(config.identityLogout, config.database, hosts?.control ?? sessions, log);
      addresses.push(...(await server.listen(config.listen)));
      if (opts.dev || config.watch) live = startLiveCode({ config: () => runtime.config, reload: () => app.reload(), log });
    },
    reload() {
      // One reload at a time, in order: a slow older one must not win over a newer one.
      const run = reloading.then(async () => {
        const next = await buildRuntime(loadConfigFile(config.file), log, ephemeral, { dev: opts.dev === true, plugins });
        if (startOnly(next.config) !== startOnly(runtime.config)) {
          log.warn({ event: 'config.restart_needed' }, 'listen addresses, host keys, gc, the ssh settings for clients, the control socket, the demo target and identity_logout change only on restart');
        }
        const previous = runtime;
        runtime = next;
        await previous.retire();
      });
      reloading = run.catch(() => undefined);
      return run;
    },
    async stop(deadlineMs = runtime.config.timeouts.shutdownMs) {
      live?.close();
      server.stopListening();
      control?.close();
      await hosts?.close();
      await identity?.close();
      clearInterval(idleSweep);
      log.info({ event: 'shutdown.start', sessions: registry.size, deadlineMs }, 'shutting down');
      // session_ended gets what is left of the deadline, so that every session is recorded before exit.
      const drain = registry.closeAll('shutdown', new BastionError('SHUTDOWN', 'Gatehouse is shutting down'), Math.max(deadlineMs - 200, 1));
      const drained = await settleWithin(drain.then(() => true), deadlineMs, false);
      if (!drained) log.error({ event: 'shutdown.deadline', left: registry.size }, 'shutdown deadline passed with sessions still closing');
      await demo?.close();
      // After the drain: every closed session's last write is queued, and close() commits it.
      await db?.close().catch((err: unknown) => log.error({ event: 'store.error', err: (err as Error).message }, 'closing the connection database failed'));
      db = undefined;
      // The ledger releases of the sessions just closed are in flight on its pool; end() waits for them.
      await ledger?.close().catch(() => undefined);
      ledger = undefined;
      await runtime.shutdown();
      rmSync(ephemeral, { recursive: true, force: true });
      log.info({ event: 'shutdown.done', drained }, 'stopped');
      return { drained };
    },
  };
  return app;
}
