import { createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

// A terminal session's recording, in asciinema's asciicast v2 format (one JSON header line, then one
// [seconds, "o", text] line per piece of output, and [seconds, "r", "COLSxROWS"] on resize), so that
// `asciinema play FILE` replays it as the user saw it. Only what the target sent is recorded: what the user
// typed includes passwords at prompts that do not echo them, and what is echoed is in the output anyway.

export interface RecordingInfo {
  readonly dir: string;
  readonly sessionId: string;
  readonly channel: number;
  readonly cols: number;
  readonly rows: number;
  readonly term: string;
  /** The exec command, for `ssh -t host command`; absent for a shell. */
  readonly command?: string;
  /** Told once when writing fails (a full disk): the recording is incomplete from there on. */
  readonly onError: (err: Error) => void;
}

export class Recording {
  readonly path: string;
  private readonly out: WriteStream;
  private readonly decoder = new StringDecoder('utf8');
  private readonly started = performance.now();
  private failed = false;

  constructor(info: RecordingInfo) {
    const day = new Date().toISOString().slice(0, 10);
    const folder = join(info.dir, day);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    this.path = join(folder, `${info.sessionId}-${info.channel}.cast`);
    // Opened here, so that a recording that cannot be made is known before the channel opens. Recordings hold
    // whatever the target printed: readable by Gatehouse's account only.
    this.out = createWriteStream('', { fd: openSync(this.path, 'wx', 0o600) });
    this.out.on('error', (err: Error) => {
      if (this.failed) return;
      this.failed = true;
      info.onError(err);
      this.out.emit('drain'); // a relay waiting for the file goes on: the session outlives its recording
    });
    this.out.write(`${JSON.stringify({
      version: 2, width: info.cols || 80, height: info.rows || 24, timestamp: Math.floor(Date.now() / 1000),
      env: { TERM: info.term }, ...(info.command !== undefined ? { command: info.command } : {}),
    })}\n`);
  }

  /** Records output; false when the file's buffer is full (wait for 'drain', as with a stream). */
  write(chunk: Buffer): boolean {
    const text = this.decoder.write(chunk);
    return text.length === 0 || this.event('o', text);
  }

  resize(cols: number, rows: number): void {
    this.event('r', `${cols}x${rows}`);
  }

  once(event: 'drain', fn: () => void): this {
    if (this.failed) queueMicrotask(fn);
    else this.out.once(event, fn);
    return this;
  }

  /** Writes what is left; resolves once the file is complete (or writing it failed). */
  close(): Promise<void> {
    const rest = this.decoder.end();
    if (rest) this.event('o', rest);
    return new Promise((resolve) => {
      if (this.out.closed) return resolve(); // destroyed by a write error already
      this.out.once('close', resolve);
      this.out.end();
    });
  }

  private event(kind: 'o' | 'r', data: string): boolean {
    if (this.failed) return true;
    const seconds = Math.round(performance.now() - this.started) / 1000;
    return this.out.write(`${JSON.stringify([seconds, kind, data])}\n`);
  }
}
