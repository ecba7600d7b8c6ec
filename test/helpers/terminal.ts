import pty from 'node-pty';

// Drives a program in a real pseudo-terminal, as a person would: waits for text, types, resizes. Used where
// echo matters (a no-echo question must not show what is typed) and for interactive shells.

export class Terminal {
  private buffer = '';
  private readonly proc: pty.IPty;
  readonly exited: Promise<number>;

  constructor(file: string, args: string[], opts: { cols?: number; rows?: number; env?: Record<string, string | undefined> } = {}) {
    this.proc = pty.spawn(file, args, {
      name: 'xterm-256color',
      cols: opts.cols ?? 100,
      rows: opts.rows ?? 30,
      env: { ...process.env, ...opts.env },
    });
    this.proc.onData((d) => { this.buffer += d; });
    this.exited = new Promise((resolve) => this.proc.onExit(({ exitCode }) => resolve(exitCode)));
  }

  /** Everything the terminal showed so far. */
  get transcript(): string {
    return this.buffer;
  }

  /** Waits until the transcript (after `from`) matches; returns the index just after the match. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.buffer.slice(from));
      if (m) return from + m.index + m[0].length;
      if (Date.now() > deadline) throw new Error(`terminal never showed ${pattern}; transcript:\n${this.buffer}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  type(text: string): void {
    this.proc.write(text);
  }

  resize(cols: number, rows: number): void {
    this.proc.resize(cols, rows);
  }

  kill(): void {
    try {
      this.proc.kill();
    } catch {
      // already gone
    }
  }
}
