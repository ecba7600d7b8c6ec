import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { byteCounters, Pump } from '../../src/proxy/streams.js';

/** A writer that holds every chunk until release() is called, like a channel whose SSH window is closed. */
function slowWriter(highWaterMark: number): { w: Writable; got: Buffer[]; release: () => void } {
  const got: Buffer[] = [];
  const pending: (() => void)[] = [];
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk);
      pending.push(cb);
    },
  });
  return { w, got, release: () => { for (const cb of pending.splice(0)) cb(); } };
}

describe('Pump', () => {
  test('copies in order, counts bytes, and ends the writer on the reader end when asked', async () => {
    const src = new PassThrough();
    const dst = new PassThrough();
    const counts = { toTarget: 0, toClient: 0 };
    const total = { toTarget: 0, toClient: 0 };
    new Pump(src, dst, byteCounters(counts, total).toTarget, true);
    const out: Buffer[] = [];
    dst.on('data', (c: Buffer) => out.push(c));
    src.write('abc');
    src.end('defg');
    await once(dst, 'end');
    assert.equal(Buffer.concat(out).toString(), 'abcdefg');
    assert.deepEqual(counts, { toTarget: 7, toClient: 0 });
    assert.deepEqual(total, { toTarget: 7, toClient: 0 });
  });

  test('pauses the reader while the writer is full and resumes it on drain', async () => {
    const src = new PassThrough();
    const { w, got, release } = slowWriter(4);
    new Pump(src, w, () => undefined, false);
    src.write(Buffer.alloc(8, 1));
    await new Promise((r) => setImmediate(r));
    assert.equal(src.isPaused(), true, 'reader paused while the writer holds more than its high-water mark');
    src.write(Buffer.alloc(8, 2));
    await new Promise((r) => setImmediate(r));
    assert.equal(got.length, 1, 'nothing more is written while paused');
    release();
    await new Promise((r) => setImmediate(r));
    assert.equal(src.isPaused(), true, 'the second chunk filled the writer again');
    assert.equal(got.length, 2);
    release();
    await new Promise((r) => setImmediate(r));
    assert.equal(src.isPaused(), false);
  });

  test('without endDst the writer stays open; stop() detaches the reader', async () => {
    const src = new PassThrough();
    const dst = new PassThrough();
    let n = 0;
    const pump = new Pump(src, dst, (b) => { n += b; }, false);
    src.write('xy');
    await new Promise((r) => setImmediate(r));
    pump.stop();
    src.end('after stop');
    await new Promise((r) => setImmediate(r));
    assert.equal(n, 2);
    assert.equal(dst.writableEnded, false);
    assert.equal(dst.read()?.toString(), 'xy');
  });
});
