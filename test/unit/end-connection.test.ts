import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { Client } from 'ssh2';
import { endConnection } from '../../src/ssh2x/connection-end.js';
import { loopbackPair } from '../helpers/tcp-pair.js';

// A peer that never closes its side (a frozen client: its kernel acknowledges our FIN, nothing more) must not
// keep the socket open: endConnection cuts it after the linger. A peer that does close is left to close, and
// one that is still reading (and so answering), however slowly, gets everything.

/** Runs `fn` on a loopback pair whose near end is wrapped as ssh2 keeps it; `peerCloses`: the far end closes
 * its side when ours ends, as a live peer does. */
async function withPair(peerCloses: boolean, fn: (p: { sock: Socket; peer: Socket; conn: Client }) => Promise<void>): Promise<void> {
  const { sock, peer, close } = await loopbackPair(!peerCloses);
  const conn = { _sock: sock, end: () => sock.end() } as unknown as Client;
  peer.on('error', () => undefined); // a cut socket resets the peer's writes
  try {
    await fn({ sock, peer, conn });
  } finally {
    close();
  }
}

test('a peer that never closes its side: the socket is destroyed after the linger', { timeout: 5_000 }, () => withPair(false, async ({ sock, peer, conn }) => {
  peer.resume();
  const started = performance.now();
  endConnection(conn, 200);
  await once(sock, 'close');
  const took = performance.now() - started;
  assert.ok(took >= 150 && took < 2_000, `closed after ${took} ms`);
}));

test('a peer that closes: the socket closes at once', { timeout: 5_000 }, () => withPair(true, async ({ sock, peer, conn }) => {
  peer.resume();
  const started = performance.now();
  endConnection(conn, 60_000);
  await once(sock, 'close');
  assert.ok(performance.now() - started < 1_000);
}));

test('a peer still reading, slower than the linger: the socket is kept until everything is delivered', { timeout: 20_000 }, () => withPair(false, async ({ sock, peer, conn }) => {
  const total = 64 * 1024 * 1024; // beyond what loopback's socket buffers hold, so Node queues the rest
  let received = 0;
  // About 30 MB/s: a 64 MiB tail takes two seconds or more, beyond the linger; a loaded machine may stall
  // the reader for a while, so the linger is not too short either. Each read is answered with a byte, as an
  // SSH client reading our output answers with window adjustments.
  peer.on('data', (d: Buffer) => {
    received += d.length;
    peer.write('w');
    peer.pause();
    setTimeout(() => peer.resume(), 2);
  });
  sock.resume();
  sock.write(Buffer.alloc(total));
  assert.ok(sock.writableLength > 0, 'data is queued in Node');
  endConnection(conn, 1_000);
  await once(sock, 'close');
  await new Promise<void>((resolve) => {
    if (received >= total) resolve();
    peer.once('end', () => resolve()).once('close', () => resolve());
  });
  assert.equal(received, total);
}));

test('a peer that trickles a byte now and then: the socket is still cut after six lingers', { timeout: 10_000 }, () => withPair(false, async ({ sock, peer, conn }) => {
  const trickle = setInterval(() => peer.write('.'), 50);
  sock.resume();
  try {
    const started = performance.now();
    endConnection(conn, 100);
    await once(sock, 'close');
    const took = performance.now() - started;
    assert.ok(took >= 550 && took < 3_000, `cut after ${took} ms`);
  } finally {
    clearInterval(trickle);
  }
}));
