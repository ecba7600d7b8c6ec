import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config, Policy } from '../config/config.js';
import { withDeadline } from '../core/deadline.js';
import { BastionError } from '../core/errors.js';
import { canonicalAddress } from '../target/ip.js';
import type { ResolvedTarget } from '../target/resolved-target.js';
import { addressAllowed, nameAllowed, portAllowed } from '../target/target-rules.js';
import type { LoginRequest } from '../target/username.js';

// Picks the connection policy for a login and the exact address Gatehouse will connect to. A user-named
// target must pass a policy's allow-list: Gatehouse is never an open proxy. Names are resolved once and that
// address is used for the connection, so an allow-list on CIDR blocks cannot be sidestepped by DNS.
// No DNS oracle before authentication: a name is resolved before the user has authenticated only when a rule
// with IP/CIDR entries needs its address to decide, and a name that does not resolve then simply matches no
// such rule, so an unknown target and a forbidden one get the same refusal. Every other name is resolved by
// the choice's `resolve()`, which the login calls after authentication.

/** A chosen target whose address may not be known yet. */
export interface ChosenTarget {
  readonly name: string;
  readonly port: number;
  /** The host Gatehouse connects to: the typed name, an alias's host, or the fixed host. */
  readonly connectHost: string;
  readonly names: readonly string[];
  /** Known when a rule needed it to choose, or when the host is an IP address. */
  readonly address: string | undefined;
}

export interface TargetChoice {
  readonly policy: Policy;
  readonly target: ChosenTarget;
  /** The address to connect to: resolves the name now (once), if no rule needed it before. */
  resolve(): Promise<ResolvedTarget>;
}

export type Resolver = (host: string) => Promise<string>;

export const dnsResolver: Resolver = async (host) => (await lookup(host)).address;

export async function chooseTarget(
  cfg: Config, request: LoginRequest, resolve: Resolver = dnsResolver, timeoutMs = cfg.timeouts.targetConnectMs,
): Promise<TargetChoice> {
  if (!request.target) {
    const policy = cfg.policies.find((p) => p.target.kind === 'fixed');
    if (!policy || policy.target.kind !== 'fixed') {
      throw new BastionError('NO_TARGET', `no target in user name "${request.serverUser}" and no policy with a fixed target`, {
        userMessage: 'No target server given. Connect as user@server (for example: ssh -p 2222 root@db01@gatehouse).',
      });
    }
    const { host, port } = policy.target;
    return choice(policy, { name: host, port, connectHost: host, names: [host], address: literal(host) }, resolve, timeoutMs);
  }

  const typed = request.target.host;
  const alias = cfg.hosts.get(typed.toLowerCase());
  const connectHost = alias?.host ?? typed;
  const names = unique([typed, connectHost]);
  const shown = `${typed}${request.target.port ? `:${request.target.port}` : ''}`;
  let early: Promise<string | undefined> | undefined;
  const earlyAddress = (): Promise<string | undefined> => {
    early ??= literal(connectHost) !== undefined
      ? Promise.resolve(literal(connectHost))
      : lookupWithin(resolve, connectHost, timeoutMs).then(canonicalAddress, () => undefined);
    return early;
  };
  let unresolved = false;
  for (const policy of cfg.policies) {
    if (policy.target.kind !== 'inband') continue;
    const port = request.target.port ?? alias?.port ?? policy.target.defaultPort;
    for (const rule of policy.target.rules) {
      if (!portAllowed(rule, port)) continue;
      let ok = names.some((n) => nameAllowed(rule, n));
      if (!ok && rule.hasAddresses) {
        const address = await earlyAddress();
        if (address === undefined) unresolved = true;
        else ok = addressAllowed(rule, address);
      }
      if (ok) {
        const address = early ? await early : literal(connectHost);
        return choice(policy, { name: typed, port, connectHost, names, address }, resolve, timeoutMs);
      }
    }
  }
  // The admin message tells an unresolvable name apart; the user's message must not.
  throw new BastionError('TARGET_NOT_ALLOWED', `no policy allows ${shown}${unresolved ? ` (${connectHost} did not resolve)` : ''}`, {
    userMessage: `Connections to ${shown} are not allowed through Gatehouse.`,
  });
}

function choice(policy: Policy, target: ChosenTarget, resolve: Resolver, timeoutMs: number): TargetChoice {
  let resolved: Promise<ResolvedTarget> | undefined;
  return { policy, target, resolve: () => (resolved ??= resolveTarget(target, resolve, timeoutMs)) };
}

async function resolveTarget(chosen: ChosenTarget, resolve: Resolver, timeoutMs: number): Promise<ResolvedTarget> {
  const address = chosen.address ?? canonicalAddress(await lookupWithin(resolve, chosen.connectHost, timeoutMs).catch((err: unknown) => {
    throw new BastionError('TARGET_RESOLVE_FAILED', `cannot resolve ${chosen.connectHost}: ${(err as Error).message}`, {
      cause: err, userMessage: `The server name "${chosen.name}" could not be resolved.`,
    });
  }));
  return { name: chosen.name, address, port: chosen.port, hostKeyNames: unique([...chosen.names, address]) };
}

function literal(host: string): string | undefined {
  return isIP(host) !== 0 ? canonicalAddress(host) : undefined;
}

function lookupWithin(resolve: Resolver, host: string, ms: number): Promise<string> {
  return withDeadline(resolve(host), ms, () => new Error(`no answer within ${ms} ms`));
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
