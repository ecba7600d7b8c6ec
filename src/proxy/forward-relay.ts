import type { Channel, ServerChannel } from 'ssh2';
import type { ChannelContext } from './channel-context.js';
import { byteCounters, flushed, ignore, Pump } from './streams.js';

// The relay behind every forwarded connection, TCP or Unix socket, local (ssh -L, -W) or remote (ssh -R), and
// X11: local-forwarding.ts, remote-forwarding.ts and x11-forwarding.ts open the two channels, this carries
// one across.

export type ForwardType = 'direct-tcpip' | 'forwarded-tcpip' | 'direct-streamlocal' | 'forwarded-streamlocal' | 'x11';

type Opened<T> = (err: Error | undefined, channel: T) => void;

/**
 * Opens a channel or sends a request on the target connection. ssh2 throws "Not connected" once that
 * connection is gone (a session draining after the target closed); the throw becomes an error for `cb`, so
 * that it never lands inside ssh2's packet parser or an unanswered promise.
 */
export function openOnTarget<T>(open: (cb: Opened<T>) => void, cb: Opened<T>): void {
  try {
    open(cb);
  } catch (err) {
    cb(err as Error, undefined as never);
  }
}

/**
 * A connection the target offers (remote forward, X11): opened to the client in turn with `openToClient`, then
 * relayed; refused to the target when the session is closing or the client refuses it.
 */
export function forwardToClient(
  s: ChannelContext, type: ForwardType, where: Record<string, string>,
  openToClient: (cb: Opened<ServerChannel>) => void, acceptUp: () => Channel, rejectUp: () => void,
): void {
  if (s.closed) return rejectUp();
  const id = s.nextChannelId();
  openToClient((err, client) => {
    if (err) {
      s.log.info({ event: 'channel.refused', ch: id, type, ...where, err: err.message }, 'client refused the forwarded connection');
      return rejectUp();
    }
    relayForward(s, id, type, where, client, acceptUp());
  });
}

/**
 * Carries one forwarded connection between the client's channel and the target's until either side closes,
 * counting bytes into the session's totals. `where` names the ends for the log.
 */
export function relayForward(s: ChannelContext, id: number, type: ForwardType, where: Record<string, string>, client: Channel, up: Channel): void {
  client.on('error', ignore);
  up.on('error', ignore);
  const counters = { toTarget: 0, toClient: 0 };
  const count = byteCounters(counters, s.bytes);
  s.log.info({ event: 'channel.open', ch: id, type, ...where }, 'channel open');
  // In the connection database a forwarding's "command" is where it leads (dest=db:5432, ...).
  const entry = s.openedChannel(type);
  entry({ command: Object.entries(where).map(([k, v]) => `${k}=${v}`).join(' ') });
  // Half-close is kept: the target's EOF becomes an EOF to the client (ending a server-side ssh2 channel
  // would also close it and drop what the client is still sending).
  new Pump(client, up, count.toTarget, true);
  new Pump(up, client, count.toClient, false);
  up.once('end', () => void flushed(client).then(() => client.eof()));
  let closed = false;
  const close = async (by: 'client' | 'target'): Promise<void> => {
    if (closed) return;
    closed = true;
    up.close();
    if (by === 'target') await flushed(client);
    client.close();
    s.log.info({ event: 'channel.close', ch: id, type, by, bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
    entry({ closed_at: new Date().toISOString(), bytes_to_target: counters.toTarget, bytes_to_client: counters.toClient });
  };
  client.once('close', () => void close('client'));
  up.once('close', () => void close('target'));
  s.trackChannel(new Promise((resolve) => { client.once('close', resolve); up.once('close', resolve); }));
}
