import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as pp from 'proxy-protocol-js';
import { parseProxyHeader, readProxyHeader, ProxyHeaderError, type ParseResult } from '../../src/ssh2x/proxy-protocol.js';
import { trustedSources } from '../../src/ssh/proxied-listener.js';
import { loopbackPair } from '../helpers/tcp-pair.js';

// The PROXY protocol parser, checked against proxy-protocol-js (an independent implementation) for the
// headers it can build and parse, and by hand for what it cannot: TLVs, LOCAL, cut-off and hostile input,
// and the socket reader's deadline and the bytes after the header.

const ok = (r: ParseResult): Extract<ParseResult, { kind: 'ok' }> => {
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r as Extract<ParseResult, { kind: 'ok' }>;
};

test('v1 TCP4 and TCP6 built by proxy-protocol-js parse to the same addresses', () => {
  for (const [proto, src, dst] of [
    [pp.INETProtocol.TCP4, '203.0.113.7', '192.0.2.1'],
    [pp.INETProtocol.TCP6, '2001:db8::7', '2001:db8::1'],
  ] as const) {
    const text = new pp.V1ProxyProtocol(proto, new pp.Peer(src, 51234), new pp.Peer(dst, 2222)).build();
    const oracle = pp.V1ProxyProtocol.parse(text);
    const r = ok(parseProxyHeader(Buffer.from(text + 'SSH-2.0-OpenSSH_9.2\r\n')));
    assert.equal(r.length, text.length);
    assert.equal(r.header.version, 1);
    assert.equal(r.header.command, 'proxy');
    assert.deepEqual(r.header.source, { address: oracle.source.ipAddress, port: oracle.source.port, family: proto === pp.INETProtocol.TCP4 ? 'IPv4' : 'IPv6' });
    assert.equal(r.header.destination?.address, oracle.destination.ipAddress);
    assert.equal(r.header.destination?.port, 2222);
  }
});

test('v1 UNKNOWN is the proxy speaking for itself', () => {
  const r = ok(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')));
  assert.equal(r.header.command, 'local');
  assert.equal(r.length, 15);
});

test('v2 IPv4 and IPv6 built by proxy-protocol-js parse to the same addresses', () => {
  const v4 = new pp.V2ProxyProtocol(pp.Command.PROXY, pp.TransportProtocol.STREAM,
    new pp.IPv4ProxyAddress(pp.IPv4Address.createFrom([198, 51, 100, 9]), 40001, pp.IPv4Address.createFrom([127, 0, 0, 1]), 2222)).build();
  const r4 = ok(parseProxyHeader(Buffer.from(v4)));
  assert.equal(r4.length, v4.length);
  assert.deepEqual(r4.header.source, { address: '198.51.100.9', port: 40001, family: 'IPv4' });
  assert.deepEqual(r4.header.destination, { address: '127.0.0.1', port: 2222, family: 'IPv4' });
  const o4 = pp.V2ProxyProtocol.parse(v4).proxyAddress as pp.IPv4ProxyAddress;
  assert.equal(r4.header.source?.address, o4.sourceAddress.address.join('.'));

  const src6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42];
  const dst6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const v6 = new pp.V2ProxyProtocol(pp.Command.PROXY, pp.TransportProtocol.STREAM,
    new pp.IPv6ProxyAddress(pp.IPv6Address.createFrom(src6), 65535, pp.IPv6Address.createFrom(dst6), 22)).build();
  const r6 = ok(parseProxyHeader(Buffer.from(v6)));
  assert.deepEqual(r6.header.source, { address: '2001:db8::42', port: 65535, family: 'IPv6' });
  assert.deepEqual(r6.header.destination, { address: '::1', port: 22, family: 'IPv6' });
  const o6 = pp.V2ProxyProtocol.parse(v6).proxyAddress as pp.IPv6ProxyAddress;
  assert.equal(o6.sourcePort, r6.header.source?.port);
});

/** A v2 header written out by hand: signature, version/command, family/transport, length, body. */
function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20 | cmd, fam, 0, 0]);
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
const tlv = (type: number, value: string): Buffer => {
  const b = Buffer.alloc(3 + Buffer.byteLength(value));
  b[0] = type;
  b.writeUInt16BE(Buffer.byteLength(value), 1);
  b.write(value, 3);
  return b;
};
const inet4 = Buffer.from([10, 1, 2, 3, 127, 0, 0, 1, 0x30, 0x39, 0x08, 0xae]);

test('v2 TLVs (ALPN, authority, unique id) are read and counted in the header length', () => {
  const hdr = v2(1, 0x11, Buffer.concat([inet4, tlv(0x01, 'h2'), tlv(0x02, 'bastion.example'), tlv(0x05, 'abc123')]));
  const r = ok(parseProxyHeader(Buffer.concat([hdr, Buffer.from('SSH-2.0-x\r\n')])));
  assert.equal(r.length, hdr.length);
  assert.deepEqual(r.header.source, { address: '10.1.2.3', port: 12345, family: 'IPv4' });
  assert.deepEqual(r.header.tlvs.map((t) => [t.type, t.value.toString()]), [[1, 'h2'], [2, 'bastion.example'], [5, 'abc123']]);
  // The oracle sees the same addresses; it hands the TLVs back as data after them.
  const o = pp.V2ProxyProtocol.parse(new Uint8Array(hdr));
  assert.equal((o.proxyAddress as pp.IPv4ProxyAddress).sourcePort, 12345);
  assert.equal(o.command, pp.Command.PROXY);
});

test('v2 LOCAL (a health check), UNSPEC and UDP keep the socket\'s own address', () => {
  assert.equal(ok(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).header.command, 'local');
  assert.equal(ok(parseProxyHeader(v2(0, 0x11, inet4))).header.command, 'local');
  assert.equal(ok(parseProxyHeader(v2(1, 0x12, inet4))).header.command, 'local');
  assert.equal(ok(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216)))).header.command, 'local');
});

test('every cut-off prefix of a valid header is incomplete, never ok or invalid', () => {
  const headers = [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n'), v2(1, 0x11, Buffer.concat([inet4, tlv(1, 'h2')]))];
  for (const h of headers) {
    for (let n = 0; n < h.length; n++) assert.equal(parseProxyHeader(h.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
    assert.equal(parseProxyHeader(h).kind, 'ok');
  }
});

test('garbage is refused at once: an SSH banner, bad v1 fields, bad v2 version/command/family, TLV overruns', () => {
  const bad: [string, Buffer][] = [
    ['ssh banner', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')],
    ['http', Buffer.from('GET / HTTP/1.1\r\n')],
    ['v1 bad proto', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['v1 bad ip', Buffer.from('PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n')],
    ['v1 v6 in tcp4', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
    ['v1 bad port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
    ['v1 fields', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
    ['v1 binary', Buffer.from('PROXY TCP4 \x00\x01')],
    ['v1 too long', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)],
    ['v2 version 1', (() => { const b = v2(1, 0x11, inet4); b[12] = 0x11; return b; })()],
    ['v2 command 2', v2(2, 0x11, inet4)],
    ['v2 family 4', v2(1, 0x41, inet4)],
    ['v2 short body', v2(1, 0x21, inet4)],
    ['v2 tlv overrun', v2(1, 0x11, Buffer.concat([inet4, Buffer.from([1, 0, 9, 0x68])]))],
    ['v2 tlv cut', v2(1, 0x11, Buffer.concat([inet4, Buffer.from([1, 0])]))],
  ];
  for (const [name, b] of bad) assert.equal(parseProxyHeader(b).kind, 'invalid', name);
});

test('the socket reader: header split over packets, the bytes after it handed on, in order', async () => {
  const { sock, peer, close } = await loopbackPair();
  try {
    const hdr = v2(1, 0x11, Buffer.concat([inet4, tlv(2, 'x')]));
    const reading = readProxyHeader(peer, 5_000);
    sock.write(hdr.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 30));
    sock.write(Buffer.concat([hdr.subarray(5), Buffer.from('SSH-2.0-first')]));
    const header = await reading;
    assert.equal(header.source?.address, '10.1.2.3');
    const rest: Buffer[] = [];
    peer.on('data', (d: Buffer) => rest.push(d));
    peer.resume();
    sock.write('-second\r\n');
    const deadline = Date.now() + 5_000;
    while (Buffer.concat(rest).toString() !== 'SSH-2.0-first-second\r\n' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(Buffer.concat(rest).toString(), 'SSH-2.0-first-second\r\n');
  } finally {
    sock.destroy();
    close();
  }
});

test('the socket reader: a slow or silent header is refused at the deadline, garbage and early EOF at once', async () => {
  const slow = await loopbackPair();
  try {
    const started = performance.now();
    const reading = readProxyHeader(slow.peer, 300);
    slow.sock.write('PROXY TCP4 1.2');
    await assert.rejects(reading, (e: Error) => e instanceof ProxyHeaderError && /within 300 ms/.test(e.message));
    assert.ok(performance.now() - started >= 290);
  } finally {
    slow.sock.destroy();
    slow.close();
  }
  const garbage = await loopbackPair();
  try {
    const reading = readProxyHeader(garbage.peer, 10_000);
    garbage.sock.write('SSH-2.0-OpenSSH_9.2\r\n');
    await assert.rejects(reading, /does not start with a PROXY protocol header/);
  } finally {
    garbage.sock.destroy();
    garbage.close();
  }
  const eof = await loopbackPair();
  try {
    const reading = readProxyHeader(eof.peer, 10_000);
    eof.sock.end('PROXY ');
    await assert.rejects(reading, /ended before a whole PROXY header/);
  } finally {
    eof.close();
  }
});

test('trusted sources: addresses, CIDR blocks, IPv4-mapped IPv6, nothing else', () => {
  const trusted = trustedSources(['127.0.0.5', '10.0.0.0/8', 'fd00::/8']);
  assert.ok(trusted('127.0.0.5'));
  assert.ok(trusted('::ffff:127.0.0.5'));
  assert.ok(trusted('10.200.1.1'));
  assert.ok(trusted('fd12::1'));
  assert.ok(!trusted('127.0.0.1'));
  assert.ok(!trusted('11.0.0.1'));
  assert.ok(!trusted('::1'));
  assert.ok(!trusted(undefined));
});
