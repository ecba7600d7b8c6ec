import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import ssh2, { type Client, type Connection } from 'ssh2';
import { connectUpstream } from '../../src/proxy/upstream.js';
import { generateEd25519, generateRsa } from '../../src/ssh2x/keygen.js';
import { tuneConnection } from '../../src/ssh2x/protocol-extras.js';

// What connectUpstream leaves in memory for the life of a session: the two legs of 10,000 idle sessions are
// what Gatehouse's memory is made of. The SSH peer is an ssh2 server on loopback.

const require = createRequire(import.meta.url);
const { DEFAULT_KEXINIT_CLIENT } = require('ssh2/lib/protocol/kex.js') as { DEFAULT_KEXINIT_CLIENT: unknown };

interface ProtocolInternals { _protocol: { _offer: { lists: { serverHostKey: { array: string[] } } }; _kex: { _keys: unknown } } }
const internals = (c: Client | Connection): ProtocolInternals['_protocol'] => (c as unknown as ProtocolInternals)._protocol;

describe('upstream connection state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-upstream-'));
  const clientKey = generateEd25519('gatehouse');
  const hostKeys = { ed25519: generateEd25519('host'), rsa: generateRsa(2048, 'host') };
  const servers: ssh2.Server[] = [];
  const serverConns: Connection[] = [];
  const open: Client[] = [];

  function serve(hostKey: string): Promise<number> {
    const server = new ssh2.Server({ hostKeys: [hostKey] }, (conn) => {
      tuneConnection(conn);
      serverConns.push(conn);
      conn.on('error', () => undefined);
      conn.on('authentication', (ctx) => ctx.accept());
    });
    servers.push(server);
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  }

  async function connect(port: number, knownKey: string): Promise<Client> {
    const knownHosts = join(dir, `known_hosts_${port}`);
    const [type, blob] = knownKey.split(' ');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${type} ${blob}\n`);
    const client = await connectUpstream({
      target: { name: '127.0.0.1', address: '127.0.0.1', port, hostKeyNames: ['127.0.0.1'] },
      username: 'u',
      credential: { privateKeys: [Buffer.from(clientKey.private)] },
      hostKeyCheck: { knownHosts, policy: 'strict' },
      alive: { intervalMs: 15_000, countMax: 3 },
      timeoutMs: 10_000,
      log: pino({ level: 'silent' }),
    });
    open.push(client);
    return client;
  }

  after(() => {
    for (const c of open) c.end();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a target with an ed25519 key on record shares ssh2\'s prepared key exchange offer', async () => {
    const client = await connect(await serve(hostKeys.ed25519.private), hostKeys.ed25519.public);
    assert.equal(internals(client)._offer, DEFAULT_KEXINIT_CLIENT);
  });

  test('a target with an RSA key on record gets an offer that asks for RSA first', async () => {
    const client = await connect(await serve(hostKeys.rsa.private), hostKeys.rsa.public);
    assert.notEqual(internals(client)._offer, DEFAULT_KEXINIT_CLIENT);
    assert.deepEqual(internals(client)._offer.lists.serverHostKey.array.slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  test('neither side keeps the key exchange\'s ephemeral key pair once the handshake is done', async () => {
    const client = await connect(await serve(hostKeys.ed25519.private), hostKeys.ed25519.public);
    assert.ok(internals(client)._kex, 'the finished key exchange is still there (ssh2 needs its session id)');
    assert.equal(internals(client)._kex._keys, null);
    const server = serverConns.at(-1)!;
    assert.equal(internals(server)._kex._keys, null);
  });
});
