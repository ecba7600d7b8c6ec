import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
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
}

export function pythonTransport(opts: PythonOptions): Transport {
  const child = spawn(opts.python, ['-u', '-B', HOST, opts.entry], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: opts.env,
    detached: true,
  });
  child.unref();
  const control = child.stdio[3] as Readable;
  let gone = false;
  child.once('exit', () => { gone = true; });
  // 'close' (not 'exit') reports a death: it comes after fd 3 is read to the end, so a result the process
  // wrote just before exiting is never mistaken for a crash.
  child.stdin!.on('error', () => undefined); // a process that died is reported through 'exit'
  return {
    send: (call) => child.stdin!.write(`${JSON.stringify(call)}\n`),
    kill: () => {
      if (gone || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
    onMessage: (fn) => {
      createInterface({ input: control, crlfDelay: Infinity }).on('line', (line) => {
        try {
          fn(JSON.parse(line) as RunnerMessage);
        } catch {
          fn({ type: 'error', code: 'PLUGIN_BAD_RESULT', message: 'garbled message from the Python runner' });
        }
      });
    },
    onFailure: (fn) => {
      child.once('error', (err) => fn(`cannot start ${opts.python}: ${err.message}`));
      child.once('close', (code, signal) => fn(`python exited (${signal ?? `code ${code}`}) before answering`));
    },
    onOutput: (fn) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        createInterface({ input: child[stream]!, crlfDelay: Infinity }).on('line', (line) => fn(line, stream));
      }
    },
  };
}
