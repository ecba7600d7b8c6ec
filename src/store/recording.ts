import { createWriteStream, open as openFile, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { promisify } from 'node:util';

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
  private readonly decoder = new StringDecoder('utf8');
  private readonly started = performance.now();
  private failed = false;
  private ended = false;

  /**
   * Creates the file (its day folder too) and writes the header. Asynchronous, so that slow storage holds up
   * only this channel; the caller opens the target's channel once this resolves, so that a recording that
   * cannot be made is known before anything runs.
   */
  static async open(info: RecordingInfo): Promise<Recording> {
    const folder = join(info.dir, new Date().toISOString().slice(0, 10));
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const path = join(folder, `${info.sessionId}-${info.channel}.cast`);
    // 'wx': never follow or reuse what is there. Recordings hold whatever the target printed: readable by
    // Gatehouse's account only.
    const fd = await promisify(openFile)(path, 'wx', 0o600);
    return new Recording(path, createWriteStream('', { fd }), info);
  }

  private constructor(readonly path: string, private readonly out: WriteStream, info: RecordingInfo) {
    this.out.on('error', (err: Error) => {
      if (this.failed) return;
      this.failed = true;
      info.onError(err);
      this.out.emit('drain'); // a relay waiting for the file goes on
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
    if (!this.ended) {
      const rest = this.decoder.end();
      if (rest) this.event('o', rest);
      this.ended = true;
    }
    return new Promise((resolve) => {
      if (this.out.closed) return resolve(); // closed already, or destroyed by a write error
      this.out.once('close', resolve);
      this.out.end();
    });
  }

  private event(kind: 'o' | 'r', data: string): boolean {
    if (this.failed || this.ended) return true;
    const seconds = Math.round(performance.now() - this.started) / 1000;
    return this.out.write(`${JSON.stringify([seconds, kind, data])}\n`);
  }
}
