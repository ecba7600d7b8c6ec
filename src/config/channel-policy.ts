import type { KeyPath } from './yaml-source.js';
import type { Check } from './validator.js';

// A policy's `channels:` section: what a logged-in user may do in session channels, as SPS channel policies
// and ContainerSSH's security settings allow: a shell, commands (all, none, or those matching patterns), each
// subsystem, the legacy scp protocol, a terminal, and which environment variables pass. Unset, everything is
// allowed (as before the section existed); README "Channel rules" documents it.

export interface ChannelPolicy {
  readonly shell: boolean;
  readonly pty: boolean;
  /** true: any command; false: none; patterns: commands matching one of them. */
  readonly exec: boolean | readonly CommandPattern[];
  /** The legacy scp protocol (`scp -O`, exec "scp -t/-f ..."), independent of `exec`. */
  readonly scp: boolean;
  /** Subsystem names allowed, or '*' for all. */
  readonly subsystems: readonly string[] | '*';
  /** Environment variable names allowed (globs), or '*' for all. */
  readonly env: readonly NamePattern[] | '*';
}

export interface CommandPattern {
  readonly text: string;
  readonly re: RegExp;
}
export type NamePattern = CommandPattern;

export const ALLOW_ALL: ChannelPolicy = { shell: true, pty: true, exec: true, scp: true, subsystems: '*', env: '*' };

const escape = (s: string): string => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&');

/**
 * A command pattern: the whole command must match, and `*` stands for any text without shell
 * metacharacters or quotes, since the target's shell reads the command (`ls *` must not allow `ls; rm -rf ~`).
 */
export function commandPattern(text: string): CommandPattern {
  const body = text.split('*').map(escape).join('[^;&|<>$`\\\\\\n\\r(){}\'"!]*');
  return { text, re: new RegExp(`^${body}$`, 's') };
}

/** An environment variable name pattern: `*` any run of name characters (`LC_*`). */
export function namePattern(text: string): NamePattern {
  return { text, re: new RegExp(`^${text.split('*').map(escape).join('[A-Za-z0-9_]*')}$`) };
}

type RawChannels = Record<string, unknown>;

const KEYS = ['shell', 'pty', 'exec', 'scp', 'subsystems', 'env'];

/** Checks a `channels:` mapping and compiles it; issues carry the key path (the caller adds file and line). */
export const channelsCheck: Check<ChannelPolicy> = (value, path, ctx) => {
  const issues = ctx.issues;
  const before = issues.length;
  const at = (k: string | number, ...rest: (string | number)[]): KeyPath => [...path, k, ...rest];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ path, message: 'must be a mapping of shell, pty, exec, scp, subsystems, env' });
    return undefined;
  }
  const raw = value as RawChannels;
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) issues.push({ path: at(k), message: `unknown key "${k}" (allowed: ${KEYS.join(', ')})` });
  const bool = (k: string): boolean => {
    const v = raw[k];
    if (v === undefined || v === null) return true;
    if (typeof v !== 'boolean') issues.push({ path: at(k), message: 'must be true or false' });
    return v === true;
  };
  const list = (k: string, check: (s: string) => string | undefined): string[] | '*' => {
    const v = raw[k];
    if (v === undefined || v === null || v === true) return '*';
    if (v === false) return [];
    if (!Array.isArray(v)) {
      issues.push({ path: at(k), message: 'must be true, false or a list' });
      return [];
    }
    v.forEach((x, i) => {
      const bad = typeof x !== 'string' || x.length === 0 ? 'must be a non-empty string' : check(x);
      if (bad) issues.push({ path: at(k, i), message: bad });
    });
    return v.filter((x): x is string => typeof x === 'string');
  };
  const exec = list('exec', (s) => (s.length > 1000 ? 'a command pattern is at most 1000 characters' : undefined));
  const subsystems = list('subsystems', (s) => (/^[\x21-\x7e]+$/.test(s) ? undefined : `${JSON.stringify(s.slice(0, 40))} is not a subsystem name`));
  const env = list('env', (s) => (/^[A-Za-z_*][A-Za-z0-9_*]*$/.test(s) ? undefined : `${JSON.stringify(s.slice(0, 40))} is not a variable name pattern`));
  const policy: ChannelPolicy = {
    shell: bool('shell'),
    pty: bool('pty'),
    scp: bool('scp'),
    exec: exec === '*' ? true : exec.length === 0 ? false : exec.map(commandPattern),
    subsystems,
    env: env === '*' ? '*' : env.map(namePattern),
  };
  return issues.length === before ? policy : undefined;
};
