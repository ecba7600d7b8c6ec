import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { Client } from 'ssh2';
import { batchWrites } from '../../src/ssh2x/protocol-extras.js';
import { loopbackPair } from '../helpers/tcp-pair.js';

interface Pair {
  /** The writing end, counting its writev calls (one per batch) while keeping its real behaviour. */
  readonly sock: Socket;
  readonly writev: { calls: number };
  /** Ends the writer and resolves with everything the far end received. */
  readonly received: () => Promise<string>;
}

/** Runs `fn` with a real loopback TCP pair, optionally batched, and closes it afterwards. */
async function withPair(batched: boolean, fn: (p: Pair) => Promise<void>): Promise<void> {
  const { sock, peer, close } = await loopbackPair();
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(peer, 'end');
  if (batched) batchWrites({ _sock: sock } as unknown as Client);
  const writev = { calls: 0 };
  const s = sock as Socket & { _writev: (...a: unknown[]) => unknown };
  const real = s._writev.bind(s);
  s._writev = (...a: unknown[]) => { writev.calls++; return real(...a); };
  try {
    await fn({ sock, writev, received: async () => { sock.end(); await ended; return Buffer.concat(chunks).toString(); } });
  } finally {
    close();
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('batchWrites: the writes of one tick leave together, in order, once the tick ends', () => withPair(true, async ({ sock, writev, received }) => {
  const parts = [Buffer.from('first packet '), Buffer.from('second packet '), Buffer.from('third packet')];
  for (const p of parts) sock.write(p);
  // Held while the tick runs: an unbatched socket would have sent the first write at once.
  assert.equal(sock.writableLength, parts.reduce((n, p) => n + p.length, 0));
  await nextTurn();
  assert.equal(writev.calls, 1);
  assert.equal(sock.writableLength, 0);
  // A later tick is a batch of its own.
  sock.write(Buffer.from(' and'));
  sock.write(Buffer.from(' more'));
  await nextTurn();
  assert.equal(writev.calls, 2);
  assert.equal(await received(), 'first packet second packet third packet and more');
}));

test('without batchWrites a socket sends each write at once (the behaviour batching changes)', () => withPair(false, async ({ sock, writev, received }) => {
  sock.write(Buffer.from('one '));
  assert.equal(sock.writableLength, 0);
  sock.write(Buffer.from('two'));
  await nextTurn();
  assert.equal(writev.calls, 0);
  assert.equal(await received(), 'one two');
}));

test('batchWrites: end() right after a write still delivers it', () => withPair(true, async ({ sock, received }) => {
  sock.write(Buffer.from('disconnect packet'));
  assert.equal(await received(), 'disconnect packet');
}));
