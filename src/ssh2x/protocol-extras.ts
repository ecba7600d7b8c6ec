import { Socket } from 'node:net';
import type { Client, Connection, ServerChannel } from 'ssh2';

// What ssh2 has no public API for, reached through its internals (internals.ts; pinned to ssh2 ~1.17 and
// checked at start-up; covered by end-to-end tests against the real OpenSSH client):
// - SSH_MSG_USERAUTH_BANNER at any point of the login (RFC 4252 §5.4). ssh2 only sends its static banner
//   once; Gatehouse shows questions to password-only clients with it.
// - SSH_MSG_DISCONNECT with a description: ssh2 always sends an empty one; Gatehouse tells a refused user why.
// - whether ssh2's native crypto binding loaded: without it throughput falls about tenfold.
// - forgetting the key exchange's ephemeral key pair, which ssh2 keeps for the life of the connection.
// - sending the packets ssh2 writes in one tick with one writev.
// - opening an auth-agent@openssh.com channel to the client (agent forwarding): ssh2 has the packet but no API.

import { bindingAvailable, connectionInternals, MAX_WINDOW, PACKET_SIZE, sendPacket, type ChannelOpened } from './internals.js';

const USERAUTH_BANNER = 53;
const DISCONNECT = 1;
/** RFC 4253 §11.1 reason: no more authentication methods available (what OpenSSH sends on too many failures). */
export const NO_MORE_AUTH_METHODS = 14;
/** RFC 4253 §11.1 reasons: connection lost; by application (what OpenSSH's sshd sends for its own reasons). */
export const CONNECTION_LOST = 10;
export const BY_APPLICATION = 11;

/** Sends a userauth banner; a no-op once the connection is gone or authenticated. */
export function sendBanner(conn: Connection, text: string): void {
  const c = connectionInternals(conn);
  const proto = c._protocol;
  const writer = proto?._packetRW?.write;
  if (!proto || !writer || c.authenticated || c._sock?.destroyed) return;
  const message = text.endsWith('\n') ? text.replace(/\r?\n/g, '\r\n') : `${text.replace(/\r?\n/g, '\r\n')}\r\n`;
  const len = Buffer.byteLength(message);
  let p = writer.allocStart;
  const packet = writer.alloc(1 + 4 + len + 4);
  packet[p] = USERAUTH_BANNER;
  packet.writeUInt32BE(len, ++p);
  packet.write(message, (p += 4), len, 'utf8');
  packet.writeUInt32BE(0, p + len); // empty language tag
  try {
    sendPacket(proto, writer.finalize(packet));
  } catch {
    // The socket closed under us; the user is gone and there is nobody to tell.
  }
}

/**
 * Ends the connection with SSH_MSG_DISCONNECT carrying `description`, which OpenSSH prints even at LogLevel
 * ERROR ("Received disconnect from ...: 14: <description>"). Used to refuse a login (a plain authentication
 * failure would make OpenSSH fall back to its other methods and ask for a password), and to say why
 * Gatehouse ends a session. Never throws: it runs on close paths.
 */
export function disconnectWith(conn: Connection, reason: number, description: string): void {
  const c = connectionInternals(conn);
  const proto = c._protocol;
  const writer = proto?._packetRW?.write;
  if (!proto || !writer || !c._sock || c._sock.destroyed) return;
  const text = description.replace(/[\r\n]+/g, ' ').slice(0, 400);
  const len = Buffer.byteLength(text);
  try {
    let p = writer.allocStartKEX;
    const packet = writer.alloc(1 + 4 + 4 + len + 4, true);
    packet[p] = DISCONNECT;
    packet.writeUInt32BE(reason, ++p);
    packet.writeUInt32BE(len, (p += 4));
    packet.write(text, (p += 4), len, 'utf8');
    packet.writeUInt32BE(0, p + len); // empty language tag
    sendPacket(proto, writer.finalize(packet, true), true);
  } catch {
    // already gone
  }
  c._sock.end();
}

/** The TCP socket under an ssh2 connection (ssh2 has no public accessor). */
export function socketOf(conn: Connection | Client): Socket | undefined {
  return connectionInternals(conn)._sock;
}

export function cryptoBindingAvailable(): boolean {
  return bindingAvailable;
}

/**
 * What both legs of a session get: TCP_NODELAY (SSH is a conversation of small packets, and Nagle's
 * algorithm against delayed ACKs would add 40 ms stalls to a login), the kex keys forgotten and writes
 * batched (below). For a Client, call it after connect(), which creates the socket.
 */
export function tuneConnection(conn: Connection | Client): void {
  (connectionInternals(conn))._sock?.setNoDelay(true);
  forgetKexKeys(conn);
  batchWrites(conn);
}

/**
 * Drops the ephemeral X25519 key pair of every finished key exchange. ssh2 clears the other key exchange
 * state at NEWKEYS but keeps this pair (about 1 KB with its native keys) as long as the connection lives;
 * a rekey makes a new one. Forgetting it also keeps the private half out of memory, as OpenSSH does.
 */
function forgetKexKeys(conn: Connection | Client): void {
  conn.on('handshake', () => {
    const kex = (connectionInternals(conn))._protocol?._kex;
    if (kex?._keys) kex._keys = null;
  });
}

const CORKED = Symbol('gatehouse.corked');
type BatchedSocket = Socket & { [CORKED]?: boolean };

function uncorkBatch(sock: BatchedSocket): void {
  sock[CORKED] = false;
  sock.uncork();
}

function batchedWrite(this: BatchedSocket, ...args: Parameters<Socket['write']>): boolean {
  if (!this[CORKED]) {
    this[CORKED] = true;
    this.cork();
    process.nextTick(uncorkBatch, this);
  }
  return Socket.prototype.write.apply(this, args);
}

/**
 * Makes the packets ssh2 writes during one tick leave in one writev: ssh2 writes every packet separately, so a
 * relayed 64 KiB read became two writes, each waking the reader on the other side. Batched, a bulk transfer
 * through Gatehouse makes half the context switches and runs about 8 % faster (figures in the commit
 * message); nothing waits longer than the current tick, so interactive latency is unchanged.
 */
export function batchWrites(conn: Connection | Client): void {
  const sock = (connectionInternals(conn))._sock;
  if (sock instanceof Socket) sock.write = batchedWrite as Socket['write'];
}

/**
 * Opens an auth-agent@openssh.com channel to the client, as sshd does when a program on the server uses the
 * forwarded agent. ssh2's server sends this packet but has no method for it; the reply (confirmation or
 * failure) is handled by ssh2 as for the channels it opens itself.
 */
export function openAgentChannel(conn: Connection, cb: ChannelOpened<ServerChannel>): void {
  const c = connectionInternals(conn);
  const open = c._protocol?.openssh_authAgent;
  if (!c._chanMgr || !open || c._sock?.destroyed) return cb(new Error('connection closed'), undefined as never);
  const local = c._chanMgr.add(Object.assign((err: Error | undefined, ch: ServerChannel) => cb(err, ch), { type: 'auth-agent@openssh.com' }));
  if (local === -1) return cb(new Error('no free channels'), undefined as never);
  open.call(c._protocol, local, MAX_WINDOW, PACKET_SIZE);
}
