// The plugin contract as it travels to and from plugins: plain JSON with the SPS names (spec 5 and 6).
// Inside Gatehouse, camelCase types wrap these at one boundary (plugins/verdict.ts, plugins/credentials.ts, session/plugin-client.ts).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type PluginType = 'aa' | 'credentialstore';

export const AA_HOOKS = ['authenticate', 'authorize', 'session_ended'] as const;
export type AaHook = (typeof AA_HOOKS)[number];
export const CREDSTORE_HOOKS = ['get_password_list', 'get_private_key_list', 'authentication_completed', 'session_ended'] as const;
export type CredstoreHook = (typeof CREDSTORE_HOOKS)[number];
export type HookName = AaHook | CredstoreHook;

/** Arguments of `authenticate` (spec 5.2). Every name is always present; null where unknown. */
export interface AuthenticateArgs {
  session_id: string;
  cookie: JsonObject;
  session_cookie: JsonObject;
  protocol: 'ssh';
  connection_name: string;
  client_ip: string;
  client_port: number;
  client_hostname: string | null;
  gateway_user: string | null;
  gateway_domain: string | null;
  server_username: string | null;
  server_domain: string | null;
  key_value_pairs: Record<string, string>;
  target_server: string | null;
  target_port: number | null;
  target_username: string | null;
}

/** Arguments of `authorize` (spec 5.3). */
export interface AuthorizeArgs {
  session_id: string;
  cookie: JsonObject;
  session_cookie: JsonObject;
  protocol: 'ssh';
  connection_name: string;
  client_ip: string;
  client_port: number;
  client_hostname: string | null;
  gateway_user: string | null;
  gateway_domain: string | null;
  gateway_groups: string[];
  key_value_pairs: Record<string, string>;
  server_ip: string;
  server_port: number;
  server_hostname: string | null;
  server_username: string;
  server_domain: string | null;
  target_server: string;
  target_port: number;
  target_username: string;
}

/** Arguments of `session_ended` (spec 5.4). */
export interface SessionEndedArgs {
  session_id: string;
  cookie: JsonObject;
  session_cookie: JsonObject;
}

/** Arguments of `get_password_list` / `get_private_key_list` (spec 6.2); note `gateway_username`, not `gateway_user`. */
export interface CredentialArgs {
  session_id: string;
  cookie: JsonObject;
  session_cookie: JsonObject;
  protocol: 'ssh';
  client_hostname: string | null;
  client_ip: string;
  gateway_username: string | null;
  gateway_password: string;
  gateway_groups: string[];
  gateway_domain: string | null;
  server_username: string;
  server_ip: string;
  server_hostname: string | null;
  server_port: number;
  server_domain: string | null;
  target_username: string;
  target_host: string;
  target_port: number;
  target_domain: string | null;
}
