import type * as C from './contract.js';

// The plugin contract as TypeScript types for plugin authors: `import type { AaPlugin, AuthenticateArgs } from
// 'gatehouse/plugin'` (package.json "exports"). Arguments come from contract.ts, the types Gatehouse itself
// builds them with; the results are what plugins/verdict.ts and plugins/credentials.ts accept. Cookie types are
// parameters, so that a plugin declares the shape of its own cookie.

export type JsonValue = C.JsonValue;
export type JsonObject = C.JsonObject;

/** Any cookie, when a plugin does not declare its own. */
export type AnyCookie = Record<string, any>;

type WithCookies<A, Cookie, SessionCookie> = Omit<A, 'cookie' | 'session_cookie'> & {
  /** This plugin's cookie, as its last successful hook call returned it ({} at first). */
  cookie: Cookie;
  /** Shared by every plugin of the session (the AA plugin and the credential store). */
  session_cookie: SessionCookie;
};

export type AuthenticateArgs<Cookie = AnyCookie, SessionCookie = AnyCookie> = WithCookies<C.AuthenticateArgs, Cookie, SessionCookie>;
export type AuthorizeArgs<Cookie = AnyCookie, SessionCookie = AnyCookie> = WithCookies<C.AuthorizeArgs, Cookie, SessionCookie>;
export type SessionEndedArgs<Cookie = AnyCookie, SessionCookie = AnyCookie> = WithCookies<C.SessionEndedArgs, Cookie, SessionCookie>;
export type CredentialArgs<Cookie = AnyCookie, SessionCookie = AnyCookie> = WithCookies<C.CredentialArgs, Cookie, SessionCookie>;
/** authentication_completed gets the same three as session_ended. */
export type AuthenticationCompletedArgs<Cookie = AnyCookie, SessionCookie = AnyCookie> = SessionEndedArgs<Cookie, SessionCookie>;

/** A NEEDINFO question: the key its answer arrives under in key_value_pairs, the prompt, and true for echo off. */
export type Question = [key: string, prompt: string] | [key: string, prompt: string, noEcho: boolean];

export interface ResultCommon<Cookie = AnyCookie, SessionCookie = AnyCookie> {
  /** Replaces the plugin's cookie; omitted keeps it. */
  cookie?: Cookie;
  /** Replaces the shared session cookie; omitted keeps it. */
  session_cookie?: SessionCookie;
  /** Kept with the session in the connection database. */
  additional_metadata?: string;
  /** With DENY: what the user reads. */
  reason?: string;
}

export type Accept<Cookie = AnyCookie, SessionCookie = AnyCookie> = ResultCommon<Cookie, SessionCookie> & {
  verdict: 'ACCEPT';
  /** From authenticate, both together: who authenticated (a user other than the server user needs a usermapping). */
  gateway_user?: string;
  gateway_groups?: string[];
};
export type Deny<Cookie = AnyCookie, SessionCookie = AnyCookie> = ResultCommon<Cookie, SessionCookie> & { verdict: 'DENY' };
export type NeedInfo<Cookie = AnyCookie, SessionCookie = AnyCookie> = ResultCommon<Cookie, SessionCookie> & { verdict: 'NEEDINFO'; question: Question };
/** From authenticate only: "this plugin authenticated nobody" (as returning null). */
export type NoVerdict<Cookie = AnyCookie, SessionCookie = AnyCookie> = ResultCommon<Cookie, SessionCookie> & { verdict: 'NONE' };

export type AuthenticateResult<Cookie = AnyCookie, SessionCookie = AnyCookie> =
  | Accept<Cookie, SessionCookie> | Deny<Cookie, SessionCookie> | NeedInfo<Cookie, SessionCookie> | NoVerdict<Cookie, SessionCookie> | null;
export type AuthorizeResult<Cookie = AnyCookie, SessionCookie = AnyCookie> =
  | Accept<Cookie, SessionCookie> | Deny<Cookie, SessionCookie> | NeedInfo<Cookie, SessionCookie>;

/** What session_ended and authentication_completed return is ignored, except cookies handed back. */
export type NotificationResult<Cookie = AnyCookie, SessionCookie = AnyCookie> =
  | void | null | { cookie?: Cookie; session_cookie?: SessionCookie };

/** A private key for the target login: its type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...) and PEM text. */
export type PrivateKeyEntry = [keyType: string, pem: string];

export type PasswordListResult<Cookie = AnyCookie, SessionCookie = AnyCookie> =
  | ({ passwords: string[] } & Omit<ResultCommon<Cookie, SessionCookie>, 'reason'>) | null;
export type PrivateKeyListResult<Cookie = AnyCookie, SessionCookie = AnyCookie> =
  | ({ private_keys: PrivateKeyEntry[] } & Omit<ResultCommon<Cookie, SessionCookie>, 'reason'>) | null;

/** Every hook may answer at once or with a promise. */
export type HookResult<T> = T | Promise<T>;

/** `export class Plugin implements AaPlugin`: the hooks of an AA plugin (type: aa). */
export interface AaPlugin {
  authenticate?(args: AuthenticateArgs<any, any>): HookResult<AuthenticateResult<any, any>>;
  authorize?(args: AuthorizeArgs<any, any>): HookResult<AuthorizeResult<any, any>>;
  session_ended?(args: SessionEndedArgs<any, any>): HookResult<NotificationResult<any, any>>;
}

/** `export class Plugin implements CredentialStorePlugin`: the hooks of a credential store (type: credentialstore). */
export interface CredentialStorePlugin {
  get_private_key_list?(args: CredentialArgs<any, any>): HookResult<PrivateKeyListResult<any, any>>;
  get_password_list?(args: CredentialArgs<any, any>): HookResult<PasswordListResult<any, any>>;
  authentication_completed?(args: AuthenticationCompletedArgs<any, any>): HookResult<NotificationResult<any, any>>;
  session_ended?(args: SessionEndedArgs<any, any>): HookResult<NotificationResult<any, any>>;
}

/** The exported class: constructed with the policy's configuration text for every hook call. */
export type PluginClass = new (configuration: string) => AaPlugin | CredentialStorePlugin;
