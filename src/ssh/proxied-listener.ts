import { BlockList, createServer, isIPv4, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ProxyProtocolSettings } from '../config/schema.js';
import { readProxyHeader } from '../ssh2x/proxy-protocol.js';

// A listener behind a TCP load balancer that speaks the PROXY protocol. Only the configured load balancers
// may speak it: anyone else could claim any client address and so dodge per-address limits and penalties, or
// frame someone else. So a connection from another source is refused, and so is one from a trusted source
// that sends no header (it would otherwise be logged and limited as the load balancer itself). Once the
// header is read, the socket reports the real client as its remote address and goes to ssh2, which sees a
// client exactly as if it had connected directly.

/** The BlockList of trusted sources; IPv4 also matches when the listener reports it IPv4-mapped (::ffff:a.b.c.d). */
export function trustedSources(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const e of entries) {
    const [ip, prefix] = e.split('/') as [string, string | undefined];
    const type = isIPv4(ip) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(prefix), type);
  }
  return (address) => {
    if (!address) return false;
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (v4) return list.check(v4, 'ipv4');
    return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  };
}

/** Shadows the socket's own remote address getters, which ssh2 reads for its ClientInfo. */
function presentAs(sock: Socket, address: string, port: number, family: string): void {
  Object.defineProperty(sock, 'remoteAddress', { value: address, configurable: true });
  Object.defineProperty(sock, 'remotePort', { value: port, configurable: true });
  Object.defineProperty(sock, 'remoteFamily', { value: family, configurable: true });
}

/** A plain TCP server that reads the PROXY header of each connection and hands the socket on to `handoff`. */
export function proxiedFront(handoff: (sock: Socket) => void, settings: ProxyProtocolSettings, log: Logger): Server {
  const trusted = trustedSources(settings.trusted);
  return createServer({ pauseOnConnect: true, noDelay: true }, (sock: Socket) => {
    const peer = sock.remoteAddress;
    const refuse = (reason: string): void => {
      log.warn({ event: 'proxy.refused', ip: peer, port: sock.remotePort, reason }, 'connection refused: PROXY protocol');
      sock.destroy();
    };
    if (!trusted(peer)) return refuse('the source is not a trusted load balancer (listen.proxy_protocol.trusted)');
    sock.on('error', () => undefined); // until ssh2 takes the socket over; a reset before then ends it quietly
    sock.resume();
    readProxyHeader(sock, settings.headerTimeoutMs).then((header) => {
      if (sock.destroyed) return;
      if (header.command === 'proxy' && header.source) {
        presentAs(sock, header.source.address, header.source.port, header.source.family);
      }
      log.debug({ event: 'proxy.header', version: header.version, command: header.command, via: peer, ip: sock.remoteAddress }, 'PROXY header read');
      handoff(sock);
      if (!sock.destroyed) sock.resume();
    }, (err: Error) => refuse(err.message));
  });
}
