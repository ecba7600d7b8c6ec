import type { KeyPath } from './yaml-source.js';

// A small schema checker for config.yaml: typed results, every problem reported with its key path, and
// unknown keys rejected (a typo must not silently fall back to a default).

export interface Issue {
  readonly path: KeyPath;
  readonly message: string;
}

export interface Ctx {
  readonly issues: Issue[];
}

export type Check<T> = (value: unknown, path: KeyPath, ctx: Ctx) => T | undefined;

/** Marks a field that may be absent; `fallback` is used when it is. */
export interface Optional<T> {
  readonly optional: true;
  readonly check: Check<T>;
  readonly fallback: T | undefined;
  /** A section: when absent, it is checked as an empty mapping, so that its own keys' defaults apply. */
  readonly section?: true;
}

type Field = Check<unknown> | Optional<unknown>;
type FieldValue<F> = F extends Optional<infer T> ? T : F extends Check<infer T> ? T : never;
type Shape = Record<string, Field>;
export type ObjectOf<S extends Shape> = { [K in keyof S]: FieldValue<S[K]> };

const issue = (ctx: Ctx, path: KeyPath, message: string): undefined => {
  ctx.issues.push({ path, message });
  return undefined;
};

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `${typeof v} ${echo(v)}`;

/** Longest piece of a configured value an error message repeats. */
const ECHO_MAX = 80;

/** A value as an error message shows it: JSON, cut to ECHO_MAX characters (a huge value is not echoed whole). */
export function echo(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > ECHO_MAX ? `${text.slice(0, ECHO_MAX)}... (${text.length} characters)` : text;
}

export function optional<T>(check: Check<T>, fallback?: T): Optional<T> {
  return { optional: true, check, fallback };
}

/**
 * A mapping that may be left out as a whole: its keys then take their defaults, exactly as when it is written
 * with none of them. The defaults live in the schema only, once.
 */
export function section<S extends Shape>(shape: S): Optional<ObjectOf<S>> & { readonly fallback: ObjectOf<S> } {
  return { optional: true, check: object(shape), fallback: undefined as unknown as ObjectOf<S>, section: true };
}

export function object<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  return (value, path, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return issue(ctx, path, `must be a mapping, not ${typeName(value)}`);
    }
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const before = ctx.issues.length;
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(shape, key)) {
        issue(ctx, [...path, key], `unknown key "${key}" (allowed: ${Object.keys(shape).join(', ')})`);
      }
    }
    for (const [key, field] of Object.entries(shape)) {
      const raw = input[key];
      const isOptional = typeof field !== 'function';
      if (raw === undefined || raw === null) {
        if (isOptional) out[key] = field.section ? field.check({}, [...path, key], ctx) : field.fallback;
        else issue(ctx, [...path, key], 'is required');
        continue;
      }
      out[key] = (isOptional ? field.check : field)(raw, [...path, key], ctx);
    }
    return ctx.issues.length === before ? (out as ObjectOf<S>) : undefined;
  };
}

export function array<T>(item: Check<T>, opts: { min?: number } = {}): Check<T[]> {
  return (value, path, ctx) => {
    if (!Array.isArray(value)) return issue(ctx, path, `must be a list, not ${typeName(value)}`);
    if (opts.min !== undefined && value.length < opts.min) {
      return issue(ctx, path, `must have at least ${opts.min} entr${opts.min === 1 ? 'y' : 'ies'}`);
    }
    const before = ctx.issues.length;
    const out = value.map((v, i) => item(v, [...path, i], ctx));
    return ctx.issues.length === before ? (out as T[]) : undefined;
  };
}

export function record<T>(item: Check<T>, keyPattern?: RegExp): Check<Record<string, T>> {
  return (value, path, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return issue(ctx, path, `must be a mapping, not ${typeName(value)}`);
    }
    const before = ctx.issues.length;
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (keyPattern && !keyPattern.test(k)) issue(ctx, [...path, k], `"${k}" is not a valid name`);
      const checked = item(v, [...path, k], ctx);
      if (checked !== undefined) out[k] = checked;
    }
    return ctx.issues.length === before ? out : undefined;
  };
}

export function string(opts: { pattern?: RegExp; hint?: string; nonEmpty?: boolean } = {}): Check<string> {
  return (value, path, ctx) => {
    if (typeof value !== 'string') return issue(ctx, path, `must be a string, not ${typeName(value)}`);
    if (opts.nonEmpty !== false && value.length === 0) return issue(ctx, path, 'must not be empty');
    if (opts.pattern && !opts.pattern.test(value)) {
      return issue(ctx, path, `${echo(value)} is not valid${opts.hint ? `: ${opts.hint}` : ''}`);
    }
    return value;
  };
}

export function number(opts: { min?: number; max?: number; integer?: boolean } = {}): Check<number> {
  return (value, path, ctx) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return issue(ctx, path, `must be a number, not ${typeName(value)}`);
    if (opts.integer && !Number.isInteger(value)) return issue(ctx, path, `must be a whole number, not ${echo(value)}`);
    if (opts.min !== undefined && value < opts.min) return issue(ctx, path, `must be at least ${opts.min}, not ${value}`);
    if (opts.max !== undefined && value > opts.max) return issue(ctx, path, `must be at most ${opts.max}, not ${value}`);
    return value;
  };
}

export function boolean(): Check<boolean> {
  return (value, path, ctx) => (typeof value === 'boolean' ? value : issue(ctx, path, `must be true or false, not ${typeName(value)}`));
}

/** true, false, or one of `values` (as OpenSSH's `AllowTcpForwarding yes|no|local|remote`). */
export function booleanOr<const T extends string>(values: readonly T[]): Check<boolean | T> {
  return (value, path, ctx) =>
    typeof value === 'boolean' || (typeof value === 'string' && (values as readonly string[]).includes(value))
      ? (value as boolean | T)
      : issue(ctx, path, `must be true, false or one of ${values.map((v) => `"${v}"`).join(', ')}, not ${typeName(value)}`);
}

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  return (value, path, ctx) =>
    typeof value === 'string' && (values as readonly string[]).includes(value)
      ? (value as T)
      : issue(ctx, path, `must be one of ${values.map((v) => `"${v}"`).join(', ')}, not ${typeName(value)}`);
}

/** A string converted by `parse`, which returns the converted value or an error message. */
export function parsed<T>(parse: (s: string) => T | string): Check<T> {
  return (value, path, ctx) => {
    if (typeof value !== 'string' && typeof value !== 'number') return issue(ctx, path, `must be a string, not ${typeName(value)}`);
    const r = parse(String(value));
    return typeof r === 'string' ? issue(ctx, path, r) : r;
  };
}
