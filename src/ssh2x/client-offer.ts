import type { Connection } from 'ssh2';
import { connectionInternals } from './internals.js';

// The client's algorithm offer, for the log line of a failed negotiation. ssh2's reason names only the kind of
// algorithm ("Handshake failed: no matching C->S cipher"); OpenSSH's sshd adds what the client offered ("no
// matching cipher found. Their offer: 3des-cbc"), which is what tells an administrator whether to change the
// client or Gatehouse's ssh: lists. The offer is the client's first SSH_MSG_KEXINIT, sent in clear: its payload
// is read once, on its way into ssh2 (the handler of the connection's first cleartext packets, private;
// internals.ts checks that it is there).

const KEXINIT = 20;
/** Name-lists are the client's words: a log line gets at most this much of each. */
const MAX_LIST = 400;
const LISTS = ['kex', 'hostKey', 'cipherCS', 'cipherSC', 'macCS', 'macSC', 'compressCS', 'compressSC'] as const;
type ListName = typeof LISTS[number];
export type ClientOffer = Readonly<Record<ListName, string>>;

/** Parses a KEXINIT payload (type byte, 16-byte cookie, then the name-lists); undefined if it is not one. */
export function parseKexinit(payload: Uint8Array): ClientOffer | undefined {
  if (payload[0] !== KEXINIT) return undefined;
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const offer: Partial<Record<ListName, string>> = {};
  let p = 17;
  for (const name of LISTS) {
    if (p + 4 > buf.length) return undefined;
    const len = buf.readUInt32BE(p);
    if (p + 4 + len > buf.length) return undefined;
    offer[name] = buf.toString('latin1', p + 4, p + 4 + Math.min(len, MAX_LIST));
    p += 4 + len;
  }
  return offer as ClientOffer;
}

/**
 * Starts watching one server connection for the client's KEXINIT; call it from the server's 'connection'
 * event (ssh2 has read the client's identification and set up the handler of the first packets, and no packet
 * has been handled yet). Returns what the client offered, once its KEXINIT arrived.
 */
export function watchClientOffer(conn: Connection): () => ClientOffer | undefined {
  let offer: ClientOffer | undefined;
  const decipher = connectionInternals(conn)._protocol?._decipher;
  const handle = decipher?._onPayload;
  if (!decipher || typeof handle !== 'function') return () => undefined;
  // Until the client's first KEXINIT; ssh2 replaces this handler (and so the watch) after the key exchange.
  decipher._onPayload = (payload: Uint8Array): unknown => {
    try {
      offer = parseKexinit(payload);
    } catch {
      offer = undefined; // a malformed offer is ssh2's to reject; the log line then has no offer
    }
    if (offer) decipher._onPayload = handle;
    return handle(payload);
  };
  return () => offer;
}

/** The list of the client's offer that a handshake failure reason of ssh2's is about, if it names one. */
export function offerFor(reason: string, offer: ClientOffer | undefined): string | undefined {
  if (!offer) return undefined;
  const rules: [RegExp, ListName][] = [
    [/key exchange/, 'kex'], [/host key/, 'hostKey'],
    [/C->S cipher/, 'cipherCS'], [/S->C cipher/, 'cipherSC'],
    [/C->S MAC/, 'macCS'], [/S->C MAC/, 'macSC'],
    [/C->S compression/, 'compressCS'], [/S->C compression/, 'compressSC'],
  ];
  const hit = rules.find(([re]) => re.test(reason));
  return hit ? offer[hit[1]] : undefined;
}
