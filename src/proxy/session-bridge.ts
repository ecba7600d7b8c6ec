import { constants } from 'node:os';
import type {
  AcceptConnection, Client as SshClient, ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession, WindowChangeInfo,
} from 'ssh2';
import type { ChannelContext } from './channel-context.js';
import { OPEN_GATE, type ChannelGate } from './channel-gate.js';
import { openOnTarget } from './forward-relay.js';
import { Recording } from '../store/recording.js';
import { SIGNALS } from '../ssh2x/internals.js';
import { byteCounters, flushed, ignore, Pump } from './streams.js';

// Carries one client "session" channel to a new session channel on the target: pty-req (term, size, modes)
// and env are collected and replayed with the shell/exec/subsystem request; window-change and signal follow
// live; data flows through pumps (streams.ts) in both directions, so SSH windows give end-to-end flow control and
// memory stays bounded; EOF, exit-status/exit-signal and close are forwarded in the order OpenSSH expects.
// auth-agent-req and x11-req are accepted where the policy allows them and asked of the target with the shell
// or exec; the target's agent and X11 channels come back through agent-forwarding.ts and x11-forwarding.ts.

interface X11Request {
  readonly single: boolean;
  readonly protocol: string;
  readonly cookie: string;
  readonly screen: number;
}

/** What the shell or exec asks the target to forward back. */
interface Forwarding {
  readonly agentForward: boolean;
  readonly x11: X11Request | undefined;
}

type ExitInfo = { code: number } | { signal: string; coreDumped: boolean; message: string };

export function bridgeSessionChannel(s: ChannelContext, id: number, accept: AcceptConnection<SshSession>, upstream: SshClient, gate: ChannelGate = OPEN_GATE): void {
  const session = accept();
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let window: WindowChangeInfo | undefined;
  let up: ClientChannel | undefined;
  let started = false;
  let clientGone = false;
  let agent = false;
  let x11: X11Request | undefined;
  let clientChannel: ServerChannel | undefined;
  let recording: Recording | undefined;

  session.on('pty', (ok, no, info) => {
    if (started || !gate(id, { kind: 'pty' })) return no?.();
    pty = info;
    ok?.();
  });
  session.on('env', (ok, no, info) => {
    if (started || !gate(id, { kind: 'env', name: info.key })) return no?.();
    env[info.key] = info.val;
    ok?.();
  });
  session.on('auth-agent', (ok, no) => {
    if (started || !s.rules.agentForwarding) {
      s.log.info({ event: 'agent.refused', ch: id }, started ? 'agent forwarding asked for too late' : 'agent forwarding not allowed by policy');
      return no?.();
    }
    agent = true;
    ok?.();
  });
  session.on('x11', (ok, no, info) => {
    if (started || !s.rules.x11Forwarding) {
      s.log.info({ event: 'x11.refused', ch: id }, started ? 'X11 forwarding asked for too late' : 'X11 forwarding not allowed by policy');
      return no?.();
    }
    // Passed on as the client sent it: the cookie is the client's stand-in, which it checks and replaces in
    // every X11 connection that comes back. ssh2 hands it over as the hex text's bytes.
    const cookie = info.cookie as unknown as Buffer | string;
    x11 = { single: info.single, protocol: info.protocol, cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : cookie, screen: info.screen };
    ok?.();
  });
  session.on('window-change', (ok, _no, info) => {
    if (up) up.setWindow(info.rows, info.cols, info.height, info.width);
    else window = info;
    recording?.resize(info.cols, info.rows);
    ok?.();
  });
  session.on('signal', (ok, no, info) => {
    // ssh2 throws on names outside RFC 4254's list; refuse those instead.
    const name = info.name.replace(/^SIG/, '');
    if (!up || !SIGNALS[name]) return no?.();
    up.signal(name);
    ok?.();
  });

  type Opened = (err: Error | undefined, ch: ClientChannel) => void;
  // sshd answers agent and X11 forwarding requests, and OpenSSH's client carries on without what was refused;
  // ssh2 fails the whole channel instead, so it is opened again without the refused request. When the agent
  // was granted and X11 refused, ssh2 does not ask for the agent again on the retry: sshd keeps one agent
  // socket per connection, so the command still has it.
  const withForwarding = (open: (f: Forwarding, cb: Opened) => void) => (cb: Opened): void => {
    const attempt = (f: Forwarding): void => openOnTarget((c: Opened) => open(f, c), (err, ch) => {
      const refused = !err ? undefined
        : f.agentForward && /agent forwarding/.test(err.message) ? 'agent'
        : f.x11 && /X11/.test(err.message) ? 'x11' : undefined;
      if (!refused) return cb(err, ch);
      s.log.info({ event: `${refused}.refused`, ch: id, by: 'target' }, `the target refused ${refused} forwarding; carrying on without it`);
      // OpenSSH's client says so for X11 (it asks for agent forwarding without waiting for an answer).
      if (refused === 'x11') clientChannel?.stderr.write(`X11 forwarding request failed on channel ${(clientChannel.outgoing as { id: number }).id}\r\n`);
      attempt(refused === 'agent' ? { ...f, agentForward: false } : { ...f, x11: undefined });
    });
    attempt({ agentForward: agent, x11 });
  };

  const start = (kind: string, acceptReq: () => ServerChannel | undefined, open: (cb: Opened) => void, detail?: Record<string, string>): void => {
    if (started) return;
    started = true;
    // Accept at once: ssh2 drops a request the client followed with EOF before it was answered.
    const client = acceptReq();
    if (!client) return;
    clientChannel = client;
    client.on('error', ignore);
    client.stderr.on('error', ignore);
    s.log.info({ event: 'channel.open', ch: id, type: kind, ...detail, pty: pty ? pty.term : undefined }, 'channel open');
    const subsystem = kind.startsWith('subsystem:') ? kind.slice('subsystem:'.length) : null;
    const entry = s.openedChannel('session');
    entry({ request: subsystem === null ? kind : 'subsystem', command: detail?.['command'] ?? null, subsystem });
    const closeEntry = (): void => entry({ closed_at: new Date().toISOString() });
    // Terminal sessions only: their output is what a person saw; exec without a pty and file transfers are
    // data, covered by the channel log and the connection database.
    const record = pty !== undefined && s.rules.recordSessions && (kind === 'shell' || kind === 'exec');
    // The policy asks for a record: without one, nothing runs (fail closed), before or during the channel.
    const refuse = (message: string): void => {
      client.stderr.write(`gatehouse: ${message}\r\n`);
      if (up) return void up.close(); // the relay delivers what is left, then ends the client's channel
      client.exit(1);
      client.end();
    };
    const onRecordingError = (err: Error): void => {
      s.log.error({ event: 'recording.failed', ch: id, err: err.message }, 'session recording failed; channel closed');
      refuse('the session recording failed; this channel is closed.');
    };
    const done = new Promise<void>((resolve) => {
      const opened: Opened = (err, ch) => {
        if (err) {
          s.log.warn({ event: 'channel.failed', ch: id, type: kind, err: err.message }, 'target refused the channel');
          client.stderr.write(`gatehouse: the server refused the request: ${err.message}\r\n`);
          client.exit(1);
          client.end();
          void recording?.close();
          closeEntry();
          resolve();
          return;
        }
        if (clientGone) {
          // The client closed its channel while the target's was opening: do not leave the command running.
          ch.close();
          void recording?.close();
          closeEntry();
          resolve();
          return;
        }
        up = ch;
        if (window) ch.setWindow(window.rows, window.cols, window.height, window.width);
        relay(s, id, entry, kind, client, ch, recording).then(resolve, resolve);
      };
      if (!record) return openOnTarget(open, opened);
      startRecording(s, id, pty!, detail?.['command'], window, onRecordingError).then((r) => {
        recording = r;
        s.log.info({ event: 'recording.start', ch: id, path: r.path }, 'recording the channel');
        openOnTarget(open, opened);
      }, (err: Error) => {
        s.log.error({ event: 'recording.failed', ch: id, err: err.message }, 'session recording could not be started; channel refused');
        refuse('this session must be recorded, and the recording could not be started.');
        closeEntry();
        resolve();
      });
    });
    s.trackChannel(done);
  };

  const ptyOpts = (): Record<string, unknown> | undefined => pty && {
    rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes,
  };
  const envOpt = (): Record<string, string> | undefined => (Object.keys(env).length > 0 ? env : undefined);

  // A request the policy refuses is answered with a failure at once (the channel stays open, as with sshd).
  session.on('shell', (ok, no) => {
    if (!started && !gate(id, { kind: 'shell' })) return no?.();
    start('shell', ok, withForwarding((f, cb) => upstream.shell(ptyOpts() ?? false, { env: envOpt(), ...f } as never, cb)));
  });
  session.on('exec', (ok, no, info) => {
    if (!started && !gate(id, { kind: 'exec', command: info.command })) return no?.();
    start('exec', ok, withForwarding((f, cb) => upstream.exec(info.command, { env: envOpt(), pty: ptyOpts(), ...f } as never, cb)), { command: info.command });
  });
  session.on('subsystem', (ok, no, info) => {
    if (!started && !gate(id, { kind: 'subsystem', name: info.name })) return no?.();
    start(`subsystem:${info.name}`, ok, (cb) => upstream.subsys(info.name, cb));
  });
  session.on('close', () => {
    clientGone = true;
    up?.close();
  });
}

async function startRecording(
  s: ChannelContext, id: number, pty: PseudoTtyInfo, command: string | undefined, window: WindowChangeInfo | undefined, onError: (err: Error) => void,
): Promise<Recording> {
  const r = await Recording.open({
    dir: s.recordingsDir, sessionId: s.sessionId, channel: id, term: pty.term,
    cols: window?.cols ?? pty.cols, rows: window?.rows ?? pty.rows, ...(command !== undefined ? { command } : {}), onError,
  });
  s.recorded(r.path);
  return r;
}

async function relay(s: ChannelContext, id: number, entry: ReturnType<ChannelContext['openedChannel']>, kind: string, client: ServerChannel, up: ClientChannel, recording: Recording | undefined): Promise<void> {
  const counters = { toTarget: 0, toClient: 0 };
  let exit: ExitInfo | undefined;
  up.on('error', ignore);
  up.stderr.on('error', ignore);
  const count = byteCounters(counters, s.bytes);
  // The client's EOF becomes the target's EOF; the target's ends the client's channel after exit-status (below).
  const pumps = [new Pump(client, up, count.toTarget, true), new Pump(up, client, count.toClient, false, recording), new Pump(up.stderr, client.stderr, count.toClient, false)];

  const exited = new Promise<void>((resolve) => {
    up.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
      exit = typeof code === 'number' ? { code } : { signal: String(signal ?? ''), coreDumped: Boolean(coreDumped), message: String(message ?? '') };
      resolve();
    });
    up.once('close', () => resolve());
  });
  const ended = (r: NodeJS.ReadableStream): Promise<void> => new Promise((resolve) => { r.once('end', resolve); r.once('close', resolve); });
  const clientClosed = new Promise<'client'>((resolve) => client.once('close', () => resolve('client')));

  const by = await Promise.race([Promise.all([ended(up), ended(up.stderr), exited]).then(() => 'target' as const), clientClosed]);
  if (by === 'target') {
    // Deliver all output, then exit-status, then close (end() closes at once, so it goes last).
    await Promise.all([flushed(client), flushed(client.stderr)]);
    try {
      if (exit && client.writable) sendExit(client, exit);
    } catch (err) {
      s.log.warn({ event: 'channel.exit_unsent', ch: id, err: (err as Error).message }, 'exit status could not be forwarded');
    }
    client.end();
  } else {
    for (const p of pumps) p.stop();
    up.close();
  }
  await recording?.close(); // the channel's close is logged once its recording is complete
  entry({
    closed_at: new Date().toISOString(), bytes_to_target: counters.toTarget, bytes_to_client: counters.toClient,
    exit_status: exit && 'code' in exit ? exit.code : null, exit_signal: exit && 'signal' in exit ? exit.signal : null,
  });
  s.log.info({ event: 'channel.close', ch: id, type: kind, by, exit: exit && ('code' in exit ? exit.code : exit.signal), bytesToTarget: counters.toTarget, bytesToClient: counters.toClient }, 'channel closed');
}

/**
 * Forwards the target's exit status or signal. ssh2 only sends the signal names of RFC 4254; any other
 * signal (OpenSSH reports e.g. SIGBUS as "BUS") becomes the shell convention 128 + its number.
 */
function sendExit(client: ServerChannel, exit: ExitInfo): void {
  if ('code' in exit) return client.exit(exit.code);
  const name = exit.signal.replace(/^SIG/, '');
  if (SIGNALS[name]) return client.exit(name, exit.coreDumped, exit.message);
  const n = (constants.signals as Record<string, number>)[`SIG${name}`];
  client.exit(n ? 128 + n : 255);
}
