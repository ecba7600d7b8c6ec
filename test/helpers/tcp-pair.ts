import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A real loopback TCP connection: `sock` is our end, `peer` the far one. `close()` ends both and the listener. */
export interface TcpPair {
  readonly sock: Socket;
  readonly peer: Socket;
  close(): void;
}

/** Opens a loopback TCP pair; with `peerHalfOpen` the far end does not close its side when ours ends. */
export async function loopbackPair(peerHalfOpen = false): Promise<TcpPair> {
  const server = createServer({ allowHalfOpen: peerHalfOpen });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(sock, 'connect');
  const [peer] = (await accepted) as [Socket];
  return { sock, peer, close: () => { peer.destroy(); server.close(); } };
}
