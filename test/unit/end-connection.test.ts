import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Client } from 'ssh2';
import { endConnection } from '../../src/ssh/protocol-extras.js';

// A peer that never closes its side (a frozen client: its kernel acknowledges our FIN, nothing more) must not
// keep the socket open: endConnection cuts it after the linger. A peer that does close is left to close.

async function pair(peerCloses: boolean): Promise<{ sock: Socket; conn: Client; stop: () => void }> {
  const server = createServer({ allowHalfOpen: !peerCloses });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(sock, 'connect');
  const [peer] = (await accepted) as [Socket];
  peer.on('data', () => undefined);
  const conn = { _sock: sock, end: () => sock.end() } as unknown as Client;
  return { sock, conn, stop: () => { peer.destroy(); server.close(); } };
}

test('a peer that never closes its side: the socket is destroyed after the linger', async () => {
  const { sock, conn, stop } = await pair(false);
  try {
    const started = performance.now();
    endConnection(conn, 200);
    await once(sock, 'close');
    const took = performance.now() - started;
    assert.ok(took >= 150 && took < 2_000, `closed after ${took} ms`);
  } finally {
    stop();
  }
});

test('a peer that closes: the socket closes at once and the linger timer is cleared', async () => {
  const { sock, conn, stop } = await pair(true);
  try {
    const started = performance.now();
    endConnection(conn, 60_000);
    await once(sock, 'close');
    assert.ok(performance.now() - started < 1_000);
  } finally {
    stop();
  }
});
