import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';
import type { ListenAddress } from '../config/schema.js';
import { hostEntryName } from '../ssh2x/known-hosts.js';
import { ensureKey, type LoadedKey } from '../ssh2x/keys.js';
import { DemoShell } from './demo-shell.js';

// DEMO ONLY. A small SSH server inside the Gatehouse process so that a newcomer can log in through Gatehouse
// at once. It accepts only Gatehouse's own client key, runs the sandboxed DemoShell (never a real shell), and
// writes keys/demo_known_hosts so that the shipped demo policy verifies its host key like any other target.
// Turn it off with `demo_target: {enabled: false}` or by deleting the demo_target section.

export class DemoTarget {
  private server: ssh2.Server | undefined;
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly keysDir: string,
    private readonly trusted: readonly LoadedKey[],
    private readonly log: Logger,
  ) {}

  async listen(addr: ListenAddress): Promise<AddressInfo> {
    const hostKey = ensureKey(join(this.keysDir, 'demo_target_ed25519'), 'ed25519', 'gatehouse-demo-target');
    const server = new ssh2.Server({ hostKeys: [hostKey.pem], ident: 'GatehouseDemoTarget' }, (conn) => this.onConnection(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => resolve());
    });
    this.server = server;
    const bound = server.address() as AddressInfo;
    writeFileSync(join(this.keysDir, 'demo_known_hosts'),
      `# written by Gatehouse at start-up: host key of the built-in demo target\n${hostEntryName(bound.address, bound.port)} ${hostKey.publicLine}\n`,
      { mode: 0o644 });
    this.log.warn({ event: 'demo.listening', address: bound.address, port: bound.port }, 'DEMO target is running (disable demo_target in config.yaml for production)');
    return bound;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const c of this.connections) c.end();
    await closed;
  }

  private onConnection(conn: Connection): void {
    let user = 'demo';
    this.connections.add(conn);
    conn.on('close', () => this.connections.delete(conn));
    conn.on('error', () => undefined);
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const key = this.trusted.find((k) => k.publicBlob.equals(ctx.key.data));
      if (!key) return ctx.reject(['publickey']);
      if (ctx.signature && ctx.blob) {
        const pub = ssh2.utils.parseKey(key.publicLine);
        if (pub instanceof Error || Array.isArray(pub) || pub.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      }
      user = ctx.username;
      ctx.accept();
    });
    conn.on('session', (accept) => {
      const session = accept();
      let pty = false;
      const env: Record<string, string> = {};
      session.on('pty', (ok) => { pty = true; ok?.(); });
      session.on('env', (ok, _no, info) => { env[info.key] = info.val; ok?.(); });
      session.on('window-change', (ok) => ok?.());
      session.on('exec', (ok, _no, info) => {
        const ch = ok();
        const r = new DemoShell(user, env).run(info.command);
        ch.write(pty ? r.output.replace(/\n/g, '\r\n') : r.output);
        ch.exit(r.status);
        ch.end();
      });
      session.on('shell', (ok) => interactive(ok(), new DemoShell(user, env), pty));
    });
  }
}

function interactive(ch: ServerChannel, shell: DemoShell, pty: boolean): void {
  const nl = pty ? '\r\n' : '\n';
  const out = (s: string): void => void ch.write(pty ? s.replace(/\r?\n/g, '\r\n') : s);
  let done = false;
  const finish = (status: number): void => {
    if (done) return;
    done = true;
    ch.exit(status);
    ch.end();
  };
  out(`${shell.run('cat motd').output}Type "help" for the demo commands.\n`);
  out(shell.prompt);
  let line = '';
  const execute = (): void => {
    const r = shell.run(line);
    line = '';
    out(r.output);
    if (r.exit !== undefined) return finish(r.exit);
    out(shell.prompt);
  };
  ch.on('data', (data: Buffer) => {
    for (const c of data.toString('utf8')) {
      if (c === '\r' || c === '\n') {
        if (pty) ch.write(nl);
        execute();
      } else if (c === '\x7f' || c === '\b') {
        if (line.length > 0 && pty) ch.write('\b \b');
        line = line.slice(0, -1);
      } else if (c === '\x03') {
        line = '';
        out(`^C\n${shell.prompt}`);
      } else if (c === '\x04') {
        if (line.length === 0) return finish(0);
      } else if (c >= ' ') {
        line += c;
        if (pty) ch.write(c); // echo, as a terminal line discipline would
      }
    }
  });
  ch.on('end', () => finish(0));
}
