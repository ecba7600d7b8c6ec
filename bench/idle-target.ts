import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';

// Benchmark target for the idle-session scenario, run as its own process: an ssh2 server (OpenSSH forks a
// process per connection, which would measure the target, not Gatehouse) that accepts one client key, opens
// shells and echoes what it receives. Usage: node idle-target.js HOST_KEY AUTHORIZED_PUB; prints its port.

const [hostKeyFile, authorizedFile] = process.argv.slice(2) as [string, string];
const allowed = ssh2.utils.parseKey(readFileSync(authorizedFile));
if (allowed instanceof Error || Array.isArray(allowed)) throw new Error('bad authorized key');
const blob = allowed.getPublicSSH();

const server = new ssh2.Server({ hostKeys: [readFileSync(hostKeyFile)] }, (conn) => {
  conn.on('error', () => undefined);
  conn.on('authentication', (ctx) => {
    if (ctx.method === 'publickey' && ctx.key.data.equals(blob)) {
      if (!ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
    }
    ctx.reject(['publickey']);
  });
  conn.on('session', (accept) => {
    const session = accept();
    session.on('pty', (ok) => ok?.());
    session.on('shell', (ok) => {
      const ch = ok();
      ch.on('error', () => undefined);
      ch.pipe(ch);
    });
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
