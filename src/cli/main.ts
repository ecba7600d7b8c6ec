#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../app.js';
import { CONFIG_TEXT_ENV, runPrimary } from './cluster-primary.js';
import { runWorker } from './cluster-worker.js';
import { loadConfigFile, parseConfig } from '../config/config.js';
import { BastionError } from '../core/errors.js';
import { createLogger, prettyDestination } from '../log/logger.js';
import { GATEHOUSE_VERSION } from '../core/version.js';
import { tuneProcess } from './process-tuning.js';
import { LOW_FILE_LIMIT, openFileLimit, sessionsWithin } from './file-limit.js';
import { PLUGIN_USAGE, pluginCommand } from './plugin-commands.js';
import { checkConfig, probeListen } from './check.js';
import { processTerminal, sessionsCommand, terminateCommand } from './session-commands.js';
import { penaltiesCommand } from './penalties-command.js';

// Command line: `gatehouse serve --config FILE` runs the bastion; `gatehouse check --config FILE` validates
// the configuration and loads every plugin; `gatehouse plugin check DIR` validates one plugin folder;
// `gatehouse sessions`, `gatehouse terminate ID` and `gatehouse penalties` talk to a running one through its
// control socket.
// Signals are handled here and nowhere else.

const USAGE = `Gatehouse ${GATEHOUSE_VERSION}, an SSH bastion with SPS-style plugins

Usage:
  gatehouse serve [--config config.yaml] [--dev]
                                           run Gatehouse; --dev: reload plugins and config on every
                                           change, trace every hook call, readable logs on a terminal,
                                           and show refused users the plugin's reason and error code
  gatehouse check [--config config.yaml]   validate the configuration and its plugins, then exit
${PLUGIN_USAGE}
  gatehouse sessions [--config config.yaml] [--json] [--user NAME] [--target NAME] [--policy NAME]
                    [--since WHEN] [--until WHEN]
                                           list the live sessions of the running Gatehouse
  gatehouse sessions --all [filters] [--reason REASON|live] [--json]
                                           history from the connection database (also when stopped)
  gatehouse sessions show SESSION_ID [--json]
                                           one session's whole record
  gatehouse terminate SESSION_ID | --user NAME | --gateway-user NAME | --all [--yes] [--config config.yaml]
                                           end sessions (asks first on a terminal); their users read
                                           why, session_ended runs
  gatehouse penalties [--clear ADDRESS|all] [--config config.yaml] [--json]
                                           list the sources refused for misbehaving, or clear them
  gatehouse --version

Signals (serve): SIGHUP reloads config.yaml and plugins (the old configuration keeps serving when the new
one is invalid); SIGTERM or SIGINT stop accepting logins, end every session and exit.`;

async function main(argv: string[]): Promise<number> {
  const io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  if (argv[0] === 'plugin') return pluginCommand(argv.slice(1), io);
  // These have options of their own (filters, --yes) and parse their arguments themselves.
  if (argv[0] === 'sessions') return sessionsCommand(argv.slice(1), io);
  if (argv[0] === 'terminate') return terminateCommand(argv.slice(1), io, processTerminal());
  if (argv[0] === 'penalties') return penaltiesCommand(argv.slice(1), io);
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c', default: 'config.yaml' },
      python: { type: 'string', default: '/usr/bin/python3' },
      version: { type: 'boolean' },
      json: { type: 'boolean' },
      dev: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.version) {
    process.stdout.write(`${GATEHOUSE_VERSION}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command || (command !== 'serve' && command !== 'check')) {
    process.stdout.write(`${USAGE}\n`);
    return 2;
  }

  if (cluster.isWorker) {
    // A worker of `workers: N`: the primary passed the configuration it validated; it handles the signals.
    const config = parseConfig(process.env[CONFIG_TEXT_ENV] ?? '', resolve(values.config!));
    tuneProcess(config.gc);
    await runWorker(config, createLogger(config.logLevel));
    return -1;
  }
  const config = loadConfigFile(values.config!);
  if (command === 'check') {
    const report = await checkConfig(config);
    (report.ok ? process.stdout : process.stderr).write(`${report.lines.map((l) => (report.ok ? l : `gatehouse: ${l}`)).join('\n')}\n`);
    return report.ok ? 0 : 1;
  }
  // The same listen checks as `check`, so that serve refuses with the same coded line, not a stack.
  const unusable = await probeListen(config);
  if (unusable.length > 0) throw new BastionError('LISTEN_FAILED', unusable.join('\n  '));
  const dev = values.dev === true;
  const log = createLogger(config.logLevel, dev && process.stdout.isTTY ? prettyDestination() : undefined);

  let app: { reload(): Promise<void>; stop(): Promise<{ drained: boolean }> };
  // --dev traces and reloads in one process: it is for writing plugins, not for serving at scale.
  if (config.workers > 1 && !dev) {
    app = await runPrimary(config, readFileSync(config.file, 'utf8'), log);
  } else {
    tuneProcess(config.gc);
    const single = await createApp(config, log, { dev });
    if (dev) log.warn({ event: 'dev.mode' }, 'development mode: plugins reload on every change, hook calls are traced, refused users read the error code; not for production');
    try {
      await single.start();
    } catch (err) {
      // What did start (the control socket, a listener, plugin runners) would keep the process from exiting.
      await single.stop(0);
      throw err;
    }
    app = single;
  }
  const files = openFileLimit();
  if (files !== undefined && files < LOW_FILE_LIMIT) {
    log.warn({ event: 'process.file_limit', limit: files, sessions: sessionsWithin(files) },
      `the open-file limit (${files}) leaves room for about ${sessionsWithin(files)} sessions, two sockets each: raise it (systemd LimitNOFILE=65536, or ulimit -n before starting)`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'signal', signal }, 'stopping');
    void app.stop().then(({ drained }) => {
      log.flush();
      process.exitCode = drained ? 0 : 1;
      setImmediate(() => process.exit());
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    app.reload().then(
      () => log.info({ event: 'config.reloaded' }, 'configuration reloaded'),
      (err: unknown) => log.error({ event: 'config.reload_failed', code: (err as BastionError).code, err: { message: (err as Error).message } },
        'reload failed; keeping the previous configuration'),
    );
  });
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    // Start-up failures are one coded line, never a stack (GATEHOUSE_DEBUG=1 adds it for a bug report).
    if (err instanceof BastionError) process.stderr.write(`gatehouse: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`gatehouse: STARTUP_FAILED: ${oneLine(err)}\n`);
    if (process.env['GATEHOUSE_DEBUG'] === '1') process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    process.exitCode = 1;
  },
);

function oneLine(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e instanceof Error ? `${e.code ? `${e.code}: ` : ''}${e.message}` : String(err);
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length > 500 ? `${line.slice(0, 500)}...` : line;
}
