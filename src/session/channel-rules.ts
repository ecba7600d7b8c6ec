import type { Logger } from 'pino';
import type { ChannelPolicy } from '../config/channel-policy.js';
import type { Policy } from '../config/config.js';
import type { ChannelGate, ChannelRequest } from '../proxy/channel-gate.js';

// Least privilege per policy (the policy's `channels:`): each request of a session channel is checked before
// anything reaches the target. A refusal is answered as sshd answers a request it does not grant, with
// SSH_MSG_CHANNEL_FAILURE, which OpenSSH's client reports ("exec request failed on channel 0", "PTY allocation
// request failed on channel 0", "subsystem request failed on channel 0"; an env request is dropped silently),
// and logged as channel.denied with the rule that refused it.

/** Characters that make the target's shell do more than run one scp. */
const SHELL_META = /[;&|<>$`\\\n\r(){}!]/;

/** The legacy scp protocol's remote command: "scp [-options] -t|-f path" (OpenSSH's `scp -O`). */
export function isScpCommand(command: string): boolean {
  if (SHELL_META.test(command)) return false;
  const [prog, ...args] = command.trim().split(/\s+/);
  return /(^|\/)scp$/.test(prog ?? '') && args.some((a) => /^-[A-Za-z]*[tf][A-Za-z]*$/.test(a));
}

/** The rule (config key) that refuses `req` under `p`, or undefined when it is allowed. */
export function refusingRule(p: ChannelPolicy, req: ChannelRequest): string | undefined {
  switch (req.kind) {
    case 'shell':
      return p.shell ? undefined : 'channels.shell';
    case 'pty':
      return p.pty ? undefined : 'channels.pty';
    case 'env':
      return p.env === '*' || p.env.some((x) => x.re.test(req.name)) ? undefined : 'channels.env';
    case 'subsystem':
      return p.subsystems === '*' || p.subsystems.includes(req.name) ? undefined : 'channels.subsystems';
    case 'exec':
      if (isScpCommand(req.command)) return p.scp ? undefined : 'channels.scp';
      if (p.exec === true) return undefined;
      if (p.exec === false) return 'channels.exec';
      return p.exec.some((x) => x.re.test(req.command)) ? undefined : 'channels.exec';
  }
}

/** The gate for a session's channels under its policy; `s.log` is read at each refusal (it gains fields). */
export function channelGate(s: { readonly log: Logger }, policy: Policy): ChannelGate {
  return (ch, req) => {
    const rule = refusingRule(policy.channels, req);
    if (!rule) return true;
    const detail = req.kind === 'exec' ? { command: req.command } : req.kind === 'subsystem' || req.kind === 'env' ? { name: req.name.slice(0, 200) } : {};
    s.log.info({ event: 'channel.denied', ch, request: req.kind, rule, policy: policy.name, ...detail }, `${req.kind} request refused by the policy`);
    return false;
  };
}
