import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { BastionError } from '../errors.js';
import type { SessionRegistry } from '../session/registry.js';
import type { ControlReply, ControlRequest } from './control-protocol.js';

// The administrators' way in to a running Gatehouse: a Unix socket (mode 0600, so only the account Gatehouse
// runs as, and root, can use it) answering one JSON request per connection: list the sessions, or end one.
// `gatehouse sessions` and `gatehouse terminate` are its clients.

const MAX_REQUEST = 4096;
const REQUEST_DEADLINE_MS = 5_000;
/** sun_path is 108 bytes on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export class ControlServer {
  private server: Server | undefined;

  constructor(private readonly path: string, private readonly registry: SessionRegistry, private readonly log: Logger) {}

  async listen(): Promise<void> {
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH) {
      throw new BastionError('CONFIG_INVALID', `control socket path ${this.path} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket takes: set control_socket to a shorter one`);
    }
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    await this.clearStale();
    const server = createServer((sock) => this.serve(sock));
    // The socket file must never exist with looser permissions, not even between bind and chmod.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(this.path, 0o600);
    server.on('error', (err: Error) => this.log.error({ event: 'control.error', err: err.message }, 'control socket error'));
    this.server = server;
    this.log.info({ event: 'control.listening', path: this.path }, 'control socket listening');
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
  }

  /** A socket file left by a Gatehouse that did not stop cleanly is removed; one that answers is in use. */
  private async clearStale(): Promise<void> {
    if (!existsSync(this.path)) return;
    const inUse = await new Promise<boolean>((resolve) => {
      const probe = connect(this.path, () => { probe.destroy(); resolve(true); });
      probe.on('error', () => resolve(false));
    });
    if (inUse) {
      throw new BastionError('CONTROL_SOCKET_IN_USE', `${this.path} belongs to a running Gatehouse: give this one its own state_dir or control_socket`);
    }
    unlinkSync(this.path);
  }

  private serve(sock: Socket): void {
    let text = '';
    const reply = (r: ControlReply): void => { sock.end(`${JSON.stringify(r)}\n`); };
    sock.setTimeout(REQUEST_DEADLINE_MS, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.length > MAX_REQUEST) return reply({ ok: false, error: 'request too long' });
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      sock.removeAllListeners('data');
      let req: ControlRequest;
      try {
        req = JSON.parse(text.slice(0, nl)) as ControlRequest;
      } catch {
        return reply({ ok: false, error: 'not JSON' });
      }
      reply(this.handle(req));
    });
  }

  private handle(req: ControlRequest): ControlReply {
    const now = Date.now();
    if (req.command === 'sessions') return { ok: true, sessions: this.registry.list().map((s) => s.summary(now)) };
    if (req.command === 'terminate') {
      const s = this.registry.list().find((x) => x.id === req.session_id);
      if (!s) return { ok: false, error: `no session ${String(req.session_id)}` };
      this.log.warn({ event: 'control.terminate', sid: s.id }, 'session terminated by an administrator');
      void s.close('terminated', new BastionError('TERMINATED', 'terminated through the control socket',
        { userMessage: 'Session terminated by an administrator.' }));
      return { ok: true, sessions: [s.summary(now)] };
    }
    return { ok: false, error: `unknown command ${JSON.stringify((req as { command?: unknown }).command)}` };
  }
}
