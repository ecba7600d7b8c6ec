import type { Policy } from '../config/config.js';
import type { AuthenticateArgs, AuthorizeArgs, CredentialArgs } from '../plugins/contract.js';
import type { GatewayIdentity } from './grant.js';
import type { ResolvedTarget } from '../target/resolved-target.js';

// The one builder of SPS argument dictionaries (spec 5.2, 5.3, 6.2): every hook gets every name it is owed,
// null where Gatehouse does not know it, from one description of the login so far. The cookies and the
// session id are added by the plugin client.

type Call<A> = Omit<A, 'cookie' | 'session_cookie' | 'session_id'>;

/** What the login knows when it calls a hook. */
export interface LoginFacts {
  readonly client: { readonly ip: string; readonly port: number };
  readonly policy: Policy;
  readonly target: ResolvedTarget;
  readonly serverUser: string;
  readonly gateway: GatewayIdentity | undefined;
}

/** The names SPS's target arguments share: the target as the user named it and as Gatehouse reaches it. */
function targetNames(f: LoginFacts): { server_hostname: string | null; target_server: string; target_port: number; target_username: string } {
  return {
    server_hostname: f.target.name === f.target.address ? null : f.target.name,
    target_server: f.target.name,
    target_port: f.target.port,
    target_username: f.serverUser,
  };
}

function common(f: LoginFacts): Pick<AuthenticateArgs, 'protocol' | 'connection_name' | 'client_ip' | 'client_port' | 'client_hostname' | 'gateway_domain' | 'server_domain' | 'gateway_user'> {
  return {
    protocol: 'ssh',
    connection_name: f.policy.name,
    client_ip: f.client.ip,
    client_port: f.client.port,
    client_hostname: null,
    gateway_domain: null,
    server_domain: null,
    gateway_user: f.gateway?.user ?? null,
  };
}

export function authenticateArgs(f: LoginFacts, pairs: Readonly<Record<string, string>>): Call<AuthenticateArgs> {
  const { server_hostname: _unused, ...target } = targetNames(f);
  return { ...common(f), server_username: f.serverUser, key_value_pairs: { ...pairs }, ...target };
}

export function authorizeArgs(f: LoginFacts, pairs: Readonly<Record<string, string>>): Call<AuthorizeArgs> {
  return {
    ...common(f),
    gateway_groups: [...(f.gateway?.groups ?? [])],
    key_value_pairs: { ...pairs },
    server_ip: f.target.address,
    server_port: f.target.port,
    server_username: f.serverUser,
    ...targetNames(f),
  };
}

export function credentialArgs(f: LoginFacts): Call<CredentialArgs> {
  return {
    protocol: 'ssh',
    client_hostname: null,
    client_ip: f.client.ip,
    gateway_username: f.gateway?.user ?? null,
    gateway_password: '', // Gatehouse's gateway authentication is the AA plugin; it reveals no password
    gateway_groups: [...(f.gateway?.groups ?? [])],
    gateway_domain: null,
    server_username: f.serverUser,
    server_ip: f.target.address,
    server_hostname: targetNames(f).server_hostname,
    server_port: f.target.port,
    server_domain: null,
    target_username: f.serverUser,
    target_host: f.target.address,
    target_port: f.target.port,
    target_domain: null,
  };
}
