import type { Writable } from 'node:stream';
import type {
  AcceptConnection, Client as SshClient, ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession, WindowChangeInfo,
} from 'ssh2';
import type { Session } from '../session/session.js';

// Carries one client "session" channel to a new session channel on the target: pty-req (term, size, modes)
// and env are collected and replayed with the shell/exec/subsystem request; window-change and signal follow
// live; data flows through stream pipes in both directions, so SSH windows give end-to-end flow control and
// memory stays bounded; EOF, exit-status/exit-signal and close are forwarded in the order OpenSSH expects.
// Requests nobody handles here (x11, auth-agent) are refused by ssh2 for lack of a listener.

export interface ChannelCounters {
  toTarget: number;
  toClient: number;
}

type ExitArgs = [code: number] | [signal: string, coreDumped: boolean, message: string];

export function bridgeSessionChannel(s: Session, id: number, accept: AcceptConnection<SshSession>, upstream: SshClient): void {
  const session = accept();
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let window: WindowChangeInfo | undefined;
  let up: ClientChannel | undefined;
  let started = false;

  session.on('pty', (ok, no, info) => {
    if (started) return no?.();
    pty = info;
    ok?.();
  });
  session.on('env', (ok, no, info) => {
    if (started) return no?.();
    env[info.key] = info.val;
    ok?.();
  });
  session.on('window-change', (ok, _no, info) => {
    if (up) up.setWindow(info.rows, info.cols, info.height, info.width);
    else window = info;
    ok?.();
  });
  session.on('signal', (ok, _no, info) => {
    up?.signal(info.name);
    ok?.();
  });

  const start = (kind: string, acceptReq: () => ServerChannel | undefined, open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void, detail?: Record<string, string>): void => {
    if (started) return;
    started = true;
    // Accept at once: ssh2 drops a request the client followed with EOF before it was answered.
    const client = acceptReq();
    if (!client) return;
    s.log.info({ event: 'channel.open', ch: id, type: kind, ...detail, pty: pty ? pty.term : undefined }, 'channel open');
    open((err, ch) => {
      if (err) {
        s.log.warn({ event: 'channel.failed', ch: id, type: kind, err: err.message }, 'target refused the channel');
        client.stderr.write(`gatehouse: the server refused the request: ${err.message}\r\n`);
        client.exit(1);
        client.end();
        return;
      }
      up = ch;
      if (window) ch.setWindow(window.rows, window.cols, window.height, window.width);
      relay(s, id, kind, client, ch);
    });
  };

  const ptyOpts = (): Record<string, unknown> | undefined => pty && {
    rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes,
  };
  const envOpt = (): Record<string, string> | undefined => (Object.keys(env).length > 0 ? env : undefined);

  session.on('shell', (ok) => start('shell', ok, (cb) => upstream.shell(ptyOpts() ?? false, { env: envOpt() } as never, cb)));
  session.on('exec', (ok, _no, info) => start('exec', ok, (cb) => upstream.exec(info.command, { env: envOpt(), pty: ptyOpts() } as never, cb), { command: info.command }));
  session.on('subsystem', (ok, _no, info) => start(`subsystem:${info.name}`, ok, (cb) => upstream.subsys(info.name, cb)));
  session.on('close', () => up?.close());
}

function relay(s: Session, id: number, kind: string, client: ServerChannel, up: ClientChannel): void {
  const counters: ChannelCounters = { toTarget: 0, toClient: 0 };
  let exit: ExitArgs | undefined;
  let done = false;

  client.on('data', (c: Buffer) => { counters.toTarget += c.length; s.bytes.toTarget += c.length; });
  up.on('data', (c: Buffer) => { counters.toClient += c.length; s.bytes.toClient += c.length; });
  up.stderr.on('data', (c: Buffer) => { counters.toClient += c.length; s.bytes.toClient += c.length; });
  client.pipe(up); // the client's EOF becomes the target's EOF
  up.pipe(client, { end: false });
  up.stderr.pipe(client.stderr, { end: false });

  const exited = new Promise<void>((resolve) => {
    up.on('exit', (...args: unknown[]) => {
      exit = (typeof args[0] === 'number' ? [args[0]] : [String(args[1]), Boolean(args[2]), String(args[3] ?? '')]) as ExitArgs;
      resolve();
    });
    up.once('close', () => resolve());
  });
  const ended = (r: NodeJS.ReadableStream): Promise<void> => new Promise((resolve) => { r.once('end', resolve); r.once('close', resolve); });

  const finish = (why: string): void => {
    if (done) return;
    done = true;
    s.log.info({ event: 'channel.close', ch: id, type: kind, by: why, exit: exit?.[0], bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
  };

  // Target finished: deliver all output, then exit-status, then close (end() closes at once, so it goes last).
  void Promise.all([ended(up), ended(up.stderr), exited]).then(async () => {
    if (done) return;
    await Promise.all([flushed(client), flushed(client.stderr)]);
    if (exit && client.writable) client.exit(...(exit as [number]));
    client.end();
    finish('target');
  });
  client.once('close', () => {
    up.close();
    finish('client');
  });
}

/** Resolves once everything written so far has left the stream's buffer. */
function flushed(w: Writable): Promise<void> {
  if (!w.writable || w.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => w.write(Buffer.alloc(0), () => resolve()));
}
