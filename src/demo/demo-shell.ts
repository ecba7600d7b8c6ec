// The demo target's shell: a handful of harmless built-in commands over a tiny read-only virtual file system.
// It never runs a real program, so enabling the demo cannot hand out the host's shell.

export interface CommandResult {
  readonly output: string;
  readonly exit?: number;
  readonly status: number;
}

const FILES: Record<string, string> = {
  'README.txt': [
    'You are logged in to the Gatehouse demo target, through Gatehouse.',
    'Gatehouse authenticated you with its demo plugin, decided you may come here,',
    'logged in on your behalf with its own key and now carries this channel.',
    'Point a connection policy at your real servers in config.yaml to go further.',
  ].join('\n') + '\n',
  'motd': 'Welcome to the Gatehouse demo target (a sandbox: no real commands run here).\n',
};

const HELP = 'Commands: help, echo, whoami, id, hostname, uname, date, pwd, ls, cat FILE, env, true, false, exit [N]\n';

export class DemoShell {
  constructor(private readonly user: string, private readonly env: Readonly<Record<string, string>> = {}) {}

  get prompt(): string {
    return `${this.user}@demo:~$ `;
  }

  /** Runs a command line; commands may be separated by ";". */
  run(line: string): CommandResult {
    let output = '';
    let status = 0;
    for (const part of line.split(';')) {
      const r = this.runOne(part);
      output += r.output;
      status = r.status;
      if (r.exit !== undefined) return { output, status, exit: r.exit };
    }
    return { output, status };
  }

  private runOne(line: string): CommandResult {
    const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
    const [cmd, ...args] = words;
    const ok = (output: string): CommandResult => ({ output, status: 0 });
    switch (cmd) {
      case undefined:
        return ok('');
      case 'help':
        return ok(HELP);
      case 'echo':
        return ok(`${args.join(' ')}\n`);
      case 'whoami':
        return ok(`${this.user}\n`);
      case 'id':
        return ok(`uid=1000(${this.user}) gid=1000(${this.user}) groups=1000(${this.user})\n`);
      case 'hostname':
        return ok('demo\n');
      case 'uname':
        return ok(args.includes('-a') ? 'Gatehouse-Demo demo 1.0 sandbox\n' : 'Gatehouse-Demo\n');
      case 'date':
        return ok(`${new Date().toUTCString()}\n`);
      case 'pwd':
        return ok(`/home/${this.user}\n`);
      case 'ls':
        return ok(`${Object.keys(FILES).join('  ')}\n`);
      case 'cat': {
        const missing = args.filter((a) => !(a in FILES));
        if (missing.length > 0) return { output: `cat: ${missing[0]}: No such file or directory\n`, status: 1 };
        return ok(args.map((a) => FILES[a]).join(''));
      }
      case 'env':
        return ok(Object.entries({ USER: this.user, HOME: `/home/${this.user}`, ...this.env }).map(([k, v]) => `${k}=${v}\n`).join(''));
      case 'true':
        return ok('');
      case 'false':
        return { output: '', status: 1 };
      case 'exit': {
        const n = args[0] === undefined ? 0 : Number(args[0]);
        return { output: '', status: Number.isInteger(n) ? n & 255 : 2, exit: Number.isInteger(n) ? n & 255 : 2 };
      }
      default:
        return { output: `${cmd}: command not found (this is the demo sandbox; try "help")\n`, status: 127 };
    }
  }
}
