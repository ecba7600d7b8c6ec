import type { Readable } from 'node:stream';

// Splits a plugin's output stream into lines without ever holding more than `maxLine` bytes of one line: a
// plugin that prints 20 MB without a newline costs 20 MB of reading, not a 20 MB string and log line. Each
// line comes with its full length, so that the caller can count what a call printed.

export function boundedLines(input: Readable, maxLine: number, fn: (line: string, bytes: number) => void, onBytes?: (n: number) => void): void {
  let kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  const flush = (): void => {
    const text = Buffer.concat(kept).toString('utf8');
    fn(total > keptBytes ? `${text}... [line cut: ${total} bytes]` : text, total);
    kept = [];
    keptBytes = 0;
    total = 0;
  };
  const take = (part: Buffer): void => {
    total += part.length;
    const room = maxLine - keptBytes;
    if (room > 0) {
      const piece = part.length > room ? part.subarray(0, room) : part;
      kept.push(Buffer.from(piece));
      keptBytes += piece.length;
    }
  };
  input.on('data', (chunk: Buffer | string) => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    onBytes?.(buf.length);
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      take(buf.subarray(0, nl > 0 && buf[nl - 1] === 13 ? nl - 1 : nl));
      flush();
      buf = buf.subarray(nl + 1);
    }
    if (buf.length > 0) take(buf);
  });
  input.on('end', () => {
    if (total > 0) flush();
  });
}
