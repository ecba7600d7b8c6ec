import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Recording } from '../../src/store/recording.js';
import { Pump } from '../../src/proxy/streams.js';

// The asciicast writer: characters split between chunks stay whole, a file that fails does not stall the
// session it records, and a relay waits for a recording that cannot keep up instead of buffering without end.

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rec-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('a character split between two chunks is recorded whole', () => withDir(async (dir) => {
  const r = await Recording.open({ dir, sessionId: 's', channel: 1, cols: 80, rows: 24, term: 'xterm', onError: () => assert.fail('no error') });
  const euro = Buffer.from('price: 5 €\r\n');
  r.write(euro.subarray(0, euro.length - 3));
  r.write(euro.subarray(euro.length - 3));
  await r.close();
  const lines = readFileSync(r.path, 'utf8').trimEnd().split('\n');
  const text = lines.slice(1).map((l) => (JSON.parse(l) as [number, string, string])[2]).join('');
  assert.equal(text, 'price: 5 €\r\n');
  assert.ok(!text.includes('\uFFFD'));
}));

test('a recording whose file fails: told once, and writes and drains go on so the session is not stalled', { timeout: 5_000 }, () => withDir(async (dir) => {
  const errors: string[] = [];
  const r = await Recording.open({ dir, sessionId: 's', channel: 2, cols: 80, rows: 24, term: 'xterm', onError: (e: Error) => errors.push(e.message) });
  (r as unknown as { out: PassThrough }).out.destroy(new Error('disk full'));
  for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(errors, ['disk full']);
  assert.equal(r.write(Buffer.from('more output')), true);
  await new Promise<void>((resolve) => r.once('drain', resolve));
  await r.close();
}));

test('a pump waits for its tap to drain as for its destination', async () => {
  const src = new PassThrough();
  const dst = new PassThrough();
  dst.resume();
  let full = true;
  const drains: (() => void)[] = [];
  const tap = { write: () => !full, once: (_e: 'drain', fn: () => void) => { drains.push(fn); } };
  new Pump(src, dst, () => undefined, false, tap);
  src.write('a');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(src.isPaused(), true, 'paused while the tap is full');
  full = false;
  drains.shift()!();
  assert.equal(src.isPaused(), false, 'resumed once it drained');
});
