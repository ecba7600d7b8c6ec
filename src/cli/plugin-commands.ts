import { parseArgs } from 'node:util';
import { checkPluginDir } from './plugin-check.js';
import { newPlugin, type Flavour } from './plugin-new.js';
import { tryPlugin, UsageError, type TryIo } from './plugin-try.js';

// `gatehouse plugin check|try|new`: the plugin author's commands. Their options are their own (`--config` is
// the plugin's configuration text here, not config.yaml).

export const PLUGIN_USAGE = `  gatehouse plugin check DIR [--python /usr/bin/python3]
                                           validate a plugin folder (MANIFEST, entry point, hooks)
  gatehouse plugin try DIR [--username 'otp=1@root@db01'] [--config TEXT|@FILE]
                           [--client-ip 127.0.0.1] [--target HOST[:PORT]] [--answers k=v,...|@FILE]
                           [--gateway-user NAME] [--session-cookie JSON|@FILE] [--timeout 30] [--json]
                                           run the plugin's hooks as a login would, without SSH: asks
                                           its questions here (or takes --answers), shows every verdict
                                           and the cookies, calls session_ended; exit 0 if accepted
  gatehouse plugin new NAME [--python | --sdk | --typescript]
                                           create a plugin folder (JavaScript by default) with a test`;

export async function pluginCommand(argv: string[], io: TryIo): Promise<number> {
  // `--python` names the interpreter for check and try, and is a flag (the flavour) for new.
  const args = argv[0] === 'new' ? argv.map((a) => (a === '--python' ? '--python-plugin' : a)) : argv;
  const { values, positionals } = parseArgs({
    args,
    options: {
      python: { type: 'string', default: '/usr/bin/python3' },
      username: { type: 'string', default: 'user@localhost' },
      config: { type: 'string' },
      'client-ip': { type: 'string', default: '127.0.0.1' },
      target: { type: 'string' },
      answers: { type: 'string' },
      'gateway-user': { type: 'string' },
      'session-cookie': { type: 'string' },
      timeout: { type: 'string', default: '30' },
      json: { type: 'boolean', default: false },
      sdk: { type: 'boolean', default: false },
      'python-plugin': { type: 'boolean', default: false },
      typescript: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const [sub, arg, ...rest] = positionals;
  const usage = (why: string): number => {
    io.err(`gatehouse plugin: ${why}\n\nUsage:\n${PLUGIN_USAGE}\n`);
    return 2;
  };
  if (!arg || rest.length > 0) return usage('expected one folder or name');
  if (sub === 'check') {
    const report = await checkPluginDir(arg, values.python!);
    (report.ok ? io.out : io.err)(`${report.lines.join('\n')}\n`);
    return report.ok ? 0 : 1;
  }
  if (sub === 'try') {
    const timeoutS = Number(values.timeout);
    if (!(timeoutS > 0)) return usage('--timeout must be a number of seconds');
    try {
      return await tryPlugin({
        dir: arg, username: values.username!, configuration: values.config, clientIp: values['client-ip']!, target: values.target,
        answers: values.answers, json: values.json!, python: values.python!, timeoutS, gatewayUser: values['gateway-user'],
        sessionCookie: values['session-cookie'],
      }, io);
    } catch (err) {
      if (err instanceof UsageError) return usage(err.message);
      throw err;
    }
  }
  if (sub === 'new') {
    const python = values['python-plugin'] === true;
    const flavours: Flavour[] = [...(python ? ['python' as const] : []), ...(values.sdk ? ['sdk' as const] : []), ...(values.typescript ? ['typescript' as const] : [])];
    if (flavours.length > 1) return usage('choose one of --python, --sdk, --typescript');
    return newPlugin(arg, flavours[0] ?? 'javascript', io);
  }
  return usage(`unknown command "${sub ?? ''}"`);
}
