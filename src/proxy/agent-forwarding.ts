import type { Readable } from 'node:stream';
import ssh2, { type GetStreamCallback, type IdentityCallback, type SignCallback } from 'ssh2';
import type { AgentContext } from './channel-context.js';
import { openAgentChannel } from '../ssh2x/protocol-extras.js';
import { ignore } from './streams.js';

// Agent forwarding (ssh -A), where the policy allows it. The client asks for it on a session channel;
// Gatehouse asks the target for it on the matching channel. When a program on the target uses the agent,
// the target's sshd opens an auth-agent channel to Gatehouse, and ssh2 asks this agent for a stream: a new
// auth-agent channel to the client, so every request goes to the user's own agent. Gatehouse itself never
// signs with it (the target login uses Gatehouse's own credentials).

export class ForwardedAgent extends ssh2.BaseAgent {
  constructor(private readonly s: AgentContext) {
    super();
  }

  // Gatehouse logs in to targets with its own credentials, never with the user's agent.
  getIdentities(cb: IdentityCallback): void {
    cb(new Error('a forwarded agent is not used for Gatehouse\'s own logins'));
  }

  sign(_key: unknown, _data: Buffer, optionsOrCb: unknown, cb?: SignCallback): void {
    (cb ?? (optionsOrCb as SignCallback))(new Error('a forwarded agent is not used for Gatehouse\'s own logins'));
  }

  override getStream(cb: GetStreamCallback): void {
    if (this.s.closed) return cb(new Error('session closed'));
    openAgentChannel(this.s.conn, (err, channel) => {
      if (err) {
        this.s.log.info({ event: 'agent.refused', err: err.message }, 'client refused the agent channel');
        return cb(err);
      }
      channel.on('error', ignore);
      // ssh2 pipes the target's agent channel to this one and back, and pipe() adds no lasting 'error'
      // listener: a write after the target closed it would otherwise end Gatehouse.
      channel.once('pipe', (targetSide: Readable) => targetSide.on('error', ignore));
      this.s.trackChannel(new Promise((resolve) => channel.once('close', resolve)));
      this.s.log.info({ event: 'agent.open' }, 'agent channel open for the target');
      cb(null, channel);
    });
  }
}
