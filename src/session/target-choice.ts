import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config, Policy } from '../config/config.js';
import { BastionError } from '../core/errors.js';
import type { ResolvedTarget } from '../target/resolved-target.js';
import type { LoginRequest } from '../target/username.js';
import { addressAllowed, nameAllowed, portAllowed } from '../target/target-rules.js';

// Picks the connection policy for a login and the exact address Gatehouse will connect to. A user-named
// target must pass a policy's allow-list: Gatehouse is never an open proxy. Names are resolved once, here, and
// that address is used for the connection, so an allow-list on CIDR blocks cannot be sidestepped by DNS.

export interface TargetChoice {
  readonly policy: Policy;
  readonly target: ResolvedTarget;
}

export type Resolver = (host: string) => Promise<string>;

export const dnsResolver: Resolver = async (host) => (await lookup(host)).address;

export async function chooseTarget(cfg: Config, request: LoginRequest, resolve: Resolver = dnsResolver): Promise<TargetChoice> {
  const resolved = new Map<string, Promise<string>>();
  const addressOf = (host: string): Promise<string> => {
    if (isIP(host) !== 0) return Promise.resolve(host);
    let p = resolved.get(host);
    if (!p) {
      p = resolve(host).catch((err: unknown) => {
        throw new BastionError('TARGET_RESOLVE_FAILED', `cannot resolve ${host}: ${(err as Error).message}`, {
          cause: err, userMessage: `The server name "${host}" could not be resolved.`,
        });
      });
      resolved.set(host, p);
    }
    return p;
  };

  if (!request.target) {
    const policy = cfg.policies.find((p) => p.target.kind === 'fixed');
    if (!policy || policy.target.kind !== 'fixed') {
      throw new BastionError('NO_TARGET', `no target in user name "${request.serverUser}" and no policy with a fixed target`, {
        userMessage: 'No target server given. Connect as user@server (for example: ssh -p 2222 root@db01@gatehouse).',
      });
    }
    const { host, port } = policy.target;
    const address = await addressOf(host);
    return { policy, target: { name: host, address, port, hostKeyNames: unique([host, address]) } };
  }

  const typed = request.target.host;
  const alias = cfg.hosts.get(typed.toLowerCase());
  const connectHost = alias?.host ?? typed;
  const names = unique([typed, connectHost]);
  const shown = `${typed}${request.target.port ? `:${request.target.port}` : ''}`;
  for (const policy of cfg.policies) {
    if (policy.target.kind !== 'inband') continue;
    const port = request.target.port ?? alias?.port ?? policy.target.defaultPort;
    for (const rule of policy.target.rules) {
      if (!portAllowed(rule, port)) continue;
      let ok = names.some((n) => nameAllowed(rule, n));
      if (!ok && rule.hasAddresses) ok = addressAllowed(rule, await addressOf(connectHost));
      if (ok) {
        const address = await addressOf(connectHost);
        return { policy, target: { name: typed, address, port, hostKeyNames: unique([...names, address]) } };
      }
    }
  }
  throw new BastionError('TARGET_NOT_ALLOWED', `no policy allows ${shown}`, {
    userMessage: `Connections to ${shown} are not allowed through Gatehouse.`,
  });
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
