import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { boundedLines } from './output-lines.js';
import type { RunnerMessage, Transport } from './runner.js';

// Python plugins (entry point main.py) run as SPS runs them: one python3 process per hook call, driven by
// python-host.py. Calls go in on stdin, answers come back on fd 3, and stdout/stderr stay the plugin's own
// (logged). The process gets its own process group so that a timeout kills whatever the plugin started too.

const HOST = fileURLToPath(new URL('./python-host.py', import.meta.url));

export interface PythonOptions {
  /** Absolute path of the interpreter. */
  readonly python: string;
  readonly entry: string;
  readonly env: Record<string, string | undefined>;
  /** RLIMIT_AS of the process (0: none). */
  readonly addressSpaceBytes: number;
  /** Longest output line kept (the rest is counted, not held). */
  readonly maxLine: number;
}

/** Longest answer frame read from the runner; a longer one is garbled. */
const MAX_FRAME = 64 * 1024 * 1024;

export function pythonTransport(opts: PythonOptions): Transport {
  const child = spawn(opts.python, ['-u', '-B', HOST, opts.entry], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...opts.env, GATEHOUSE_PID: String(process.pid), GATEHOUSE_PLUGIN_AS_BYTES: String(opts.addressSpaceBytes) },
    detached: true,
  });
  const control = child.stdio[3] as Readable | null;
  if (!control || !child.stdin || !child.stdout || !child.stderr) {
    // spawn() can fail before it has pipes (EMFILE): no runner, and nothing to wait for.
    child.kill('SIGKILL');
    throw new Error(`cannot start ${opts.python}: no pipes (out of file descriptors?)`);
  }
  child.unref();
  child.stdin.on('error', () => undefined); // a process that died is reported through 'exit'
  // A death counts once the process has exited and its answer channel (fd 3) is read to the end, so a result
  // written just before exiting is never taken for a crash, and helpers the plugin started (which may hold
  // stdout open) cannot delay the report.
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  const drained = new Promise<void>((resolve) => { control.once('end', resolve); control.once('close', resolve); });
  return {
    send: (call) => child.stdin!.end(`${JSON.stringify(call)}\n`),
    // The whole process group, every time: what the plugin started goes too, even after the plugin exited.
    kill: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    },
    onMessage: (fn) => {
      boundedLines(control, MAX_FRAME, (line, bytes) => {
        try {
          if (bytes > MAX_FRAME) throw new Error('frame too long');
          fn(JSON.parse(line) as RunnerMessage);
        } catch {
          fn({ type: 'error', code: 'PLUGIN_BAD_RESULT', message: 'garbled message from the Python runner' });
        }
      });
    },
    onFailure: (fn) => {
      child.once('error', (err) => fn(`cannot start ${opts.python}: ${err.message}`));
      void Promise.all([exited, drained]).then(([how]) => fn(`python exited (${how}) before answering`));
    },
    onOutput: (fn, onBytes) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        boundedLines(child[stream]!, opts.maxLine, (line, bytes) => fn(line, stream, bytes), onBytes);
      }
    },
  };
}
