import type { Client, Connection } from 'ssh2';
import { connectionInternals } from './internals.js';

// How Gatehouse lets go of a connection it ends (either leg), and how it learns that ssh2 gave up on a peer.

const MAX_LINGER_ROUNDS = 6;

/**
 * Ends an SSH connection (either leg) and lets go of its socket once it stops making progress: end() sends
 * what is queued and a FIN, but a peer that has stopped reading (frozen, or gone without a reset) never
 * closes its side, and the socket would stay open forever (OpenSSH's sshd simply exits). Every `lingerMs`
 * the socket is destroyed unless it made progress meanwhile: Node's queue for it shrank, or the peer sent
 * something (an SSH peer that reads what we send answers with window adjustments). What the kernel already
 * holds is still delivered after that, as close() does not discard it. Six lingers at the most.
 */
export function endConnection(conn: Connection | Client, lingerMs: number): void {
  const sock = connectionInternals(conn)._sock;
  try {
    conn.end();
  } catch {
    // already gone
  }
  if (!sock || sock.destroyed) return;
  const progress = (): number => sock.bytesRead - sock.writableLength;
  let last = progress();
  let rounds = 0;
  const timer = setTimeout(() => {
    // A peer that trickles a byte now and then must not hold the socket for ever either.
    if (progress() === last || ++rounds >= MAX_LINGER_ROUNDS) return void sock.destroy();
    last = progress();
    timer.refresh();
  }, lingerMs);
  timer.unref();
  sock.once('close', () => clearTimeout(timer));
}

/** Calls `fn` when ssh2 gives up on its alive checks of the peer, which it reports as an error of this level. */
export function onAliveTimeout(peer: Connection | Client, fn: () => void): void {
  peer.on('error', (err: Error & { level?: string }) => {
    if (err.level === 'client-timeout') fn();
  });
}
