import ssh2, { type Client, type ClientChannel } from 'ssh2';

// ssh2 clients for the fine-grained cases the OpenSSH client cannot express (signals, exact exit signals,
// many concurrent connections). Keyboard-interactive prompts are answered from a list.

export function connectClient(port: number, username: string, answers: readonly string[]): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    const queue = [...answers];
    c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => queue.shift() ?? '')));
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port, username, tryKeyboard: true, readyTimeout: 15_000, hostVerifier: () => true });
  });
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: string | undefined;
}

export function exec(c: Client, command: string, onChannel?: (ch: ClientChannel) => void): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | undefined;
      ch.on('data', (d: Buffer) => { stdout += d.toString(); });
      ch.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      ch.on('exit', (c2: number | null, sig?: string) => { code = c2; signal = sig; });
      ch.on('close', () => resolve({ stdout, stderr, code, signal }));
      onChannel?.(ch);
    });
  });
}
