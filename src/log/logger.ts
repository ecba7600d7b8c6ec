import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

// The root logger: pino JSON lines on stdout (or a stream the caller passes, as tests do). Secrets never
// reach it by design (answers, passwords and keys are not passed to log calls); the redaction list is the
// second line of defence for fields that could carry one.

/** The levels config.yaml's log_level takes, most to least severe. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const REDACT_PATHS = [
  'password', '*.password', 'passphrase', '*.passphrase',
  'answer', '*.answer', 'answers', '*.answers',
  'privateKey', '*.privateKey', 'private_key', '*.private_key',
  'key_value_pairs', '*.key_value_pairs', 'keyValuePairs', '*.keyValuePairs',
];

/** Readable lines for a person at a terminal (`gatehouse serve --dev`), written synchronously to stdout. */
export function prettyDestination(): DestinationStream {
  return pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,svc' });
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'gatehouse' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
