import type { Logger } from 'pino';
import type { PenaltyConfig } from '../config/abuse-limits.js';
import { addressMatcher, canonicalIp, networkBlock } from '../target/source-address.js';

// Penalties in the manner of OpenSSH's PerSourcePenalties: what a source does wrong (a failed authentication,
// a denied login, a disconnect without logging in, a login that ran out of time) adds penalty time to its
// address block. Once that time reaches `min`, the block's new connections are refused at TCP accept, before
// any SSH work, until the time has run out. Time keeps adding up while the penalty runs (capped at `max`),
// so a source that keeps trying stays out longer. Exempt addresses earn nothing.

export type PenaltyKind = 'authfail' | 'noauth' | 'grace_exceeded';

/** config.yaml's penalties (config/abuse-limits.ts): seconds added per event of each kind. */
export type PenaltySettings = PenaltyConfig;

export interface PenaltyEntry {
  readonly source: string;
  /** When the penalty time runs out (ms since the epoch). */
  readonly until: number;
  /** Whether new connections are refused now (the time reached `min`). */
  readonly active: boolean;
  readonly lastKind: PenaltyKind;
  readonly events: number;
}

interface Entry {
  until: number;
  active: boolean;
  lastKind: PenaltyKind;
  events: number;
}

export class Penalties {
  private readonly table = new Map<string, Entry>();
  private matcher: { of: readonly string[]; match: (ip: string) => boolean } | undefined;
  private overflowLogged = false;
  /** In a worker of `workers: N`: where events go instead (the primary keeps the one record and mirrors it back). */
  private forward: ((ip: string, kind: PenaltyKind) => void) | undefined;

  /** `current` gives the settings in force (a reload changes them; penalties already earned stay). */
  constructor(private readonly current: () => PenaltySettings, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  private get settings(): PenaltySettings {
    return this.current();
  }

  private exempt(ip: string): boolean {
    const list = this.settings.exempt;
    if (this.matcher?.of !== list) this.matcher = { of: list, match: addressMatcher(list) };
    return this.matcher.match(ip);
  }

  private blockOf(ip: string): string {
    return networkBlock(ip, this.settings.v4Prefix, this.settings.v6Prefix);
  }

  /**
   * Sends every event to `fn` rather than recording it here: with several workers, one source's failures in
   * any of them count toward one record (the primary's), which reaches this table through mirror().
   */
  forwardTo(fn: (ip: string, kind: PenaltyKind) => void): void {
    this.forward = fn;
  }

  /** Adds the penalty for `kind` to the block of `ip`; returns the block's entry as it now stands, if kept here. */
  record(ip: string, kind: PenaltyKind): PenaltyEntry | undefined {
    const st = this.settings;
    if (!st.enabled || st.seconds[kind] <= 0 || this.exempt(ip)) return undefined;
    if (this.forward) {
      this.forward(ip, kind);
      return undefined;
    }
    const now = this.now();
    const source = this.blockOf(ip);
    let e = this.table.get(source);
    if (e && e.until <= now) {
      this.table.delete(source);
      e = undefined;
    }
    if (!e) {
      if (this.table.size >= st.maxSources) this.prune(now);
      if (this.table.size >= st.maxSources) {
        if (!this.overflowLogged) this.log.warn({ event: 'penalty.overflow', limit: st.maxSources }, 'penalty table full; new sources are not penalised');
        this.overflowLogged = true;
        return undefined;
      }
      e = { until: now, active: false, lastKind: kind, events: 0 };
      this.table.set(source, e);
    }
    e.until = Math.min(e.until + st.seconds[kind] * 1000, now + st.maxMs);
    e.lastKind = kind;
    e.events++;
    const becameActive = !e.active && e.until - now >= st.minMs;
    if (becameActive) e.active = true;
    const fields = { event: becameActive ? 'penalty.active' : 'penalty.add', source, ip: canonicalIp(ip), kind, penaltySeconds: Math.round((e.until - now) / 1000), events: e.events };
    if (becameActive) this.log.warn(fields, `source ${source} penalised: new connections refused for ${fields.penaltySeconds} s`);
    else this.log.info(fields, 'penalty time added');
    return { source, ...e };
  }

  /** Takes entries as another process (the primary) keeps them, replacing what this table had for their blocks. */
  mirror(entries: readonly PenaltyEntry[]): void {
    for (const p of entries) this.table.set(p.source, { until: p.until, active: p.active, lastKind: p.lastKind, events: p.events });
  }

  /** Drops the entries of these blocks (cleared where the record is kept); logs nothing. */
  forget(sources: readonly string[]): void {
    for (const k of sources) this.table.delete(k);
  }

  /** The active penalty of the block of `ip`, or undefined: the connection may proceed. */
  check(ip: string): PenaltyEntry | undefined {
    if (!this.settings.enabled) return undefined;
    const source = this.blockOf(ip);
    const e = this.table.get(source);
    if (!e) return undefined;
    const now = this.now();
    if (e.until <= now) {
      this.table.delete(source);
      return undefined;
    }
    if (!e.active || this.exempt(ip)) return undefined;
    return { source, ...e };
  }

  list(): PenaltyEntry[] {
    this.prune(this.now());
    return [...this.table].map(([source, e]) => ({ source, ...e })).sort((a, b) => b.until - a.until);
  }

  /** Removes the penalties of the blocks `addr` falls in (or all, without `addr`); returns those removed. */
  clear(addr?: string): string[] {
    const gone = addr === undefined ? [...this.table.keys()] : [this.blockOf(addr), addr].filter((k) => this.table.has(k));
    for (const k of gone) this.table.delete(k);
    if (gone.length > 0) this.log.warn({ event: 'penalty.cleared', sources: gone }, 'penalties cleared by an administrator');
    return gone;
  }

  private prune(now: number): void {
    for (const [k, e] of this.table) if (e.until <= now) this.table.delete(k);
    if (this.table.size < this.settings.maxSources) this.overflowLogged = false;
  }
}
