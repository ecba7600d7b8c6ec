import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Client } from 'ssh2';
import { batchWrites } from '../../src/ssh/protocol-extras.js';

/** A real loopback TCP pair; the far end collects what arrives. */
async function socketPair(): Promise<{ sock: Socket; received: () => Promise<Buffer>; close: () => void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(sock, 'connect');
  const [peer] = (await accepted) as [Socket];
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(peer, 'end');
  return {
    sock,
    received: async () => { sock.end(); await ended; return Buffer.concat(chunks); },
    close: () => { peer.destroy(); server.close(); },
  };
}

/** Counts the socket's writev calls (one per batch) while keeping its real behaviour. */
function countWritev(sock: Socket): { calls: number } {
  const counter = { calls: 0 };
  const s = sock as Socket & { _writev: (...a: unknown[]) => unknown };
  const real = s._writev.bind(s);
  s._writev = (...a: unknown[]) => { counter.calls++; return real(...a); };
  return counter;
}

test('batchWrites: the writes of one tick leave together, in order, once the tick ends', async () => {
  const { sock, received, close } = await socketPair();
  try {
    batchWrites({ _sock: sock } as unknown as Client);
    const writev = countWritev(sock);
    const parts = [Buffer.from('first packet '), Buffer.from('second packet '), Buffer.from('third packet')];
    for (const p of parts) sock.write(p);
    // Held while the tick runs: an unbatched socket would have sent the first write at once.
    assert.equal(sock.writableLength, parts.reduce((n, p) => n + p.length, 0));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(writev.calls, 1);
    assert.equal(sock.writableLength, 0);
    // A later tick is a batch of its own.
    sock.write(Buffer.from(' and'));
    sock.write(Buffer.from(' more'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(writev.calls, 2);
    assert.equal((await received()).toString(), 'first packet second packet third packet and more');
  } finally {
    close();
  }
});

test('without batchWrites a socket sends each write at once (the behaviour batching changes)', async () => {
  const { sock, received, close } = await socketPair();
  try {
    const writev = countWritev(sock);
    sock.write(Buffer.from('one '));
    assert.equal(sock.writableLength, 0);
    sock.write(Buffer.from('two'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(writev.calls, 0);
    assert.equal((await received()).toString(), 'one two');
  } finally {
    close();
  }
});

test('batchWrites: end() right after a write still delivers it', async () => {
  const { sock, received, close } = await socketPair();
  try {
    batchWrites({ _sock: sock } as unknown as Client);
    sock.write(Buffer.from('disconnect packet'));
    assert.equal((await received()).toString(), 'disconnect packet');
  } finally {
    close();
  }
});
