import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { BastionError } from '../core/errors.js';

// The one place that reaches into ssh2's private modules and fields (pinned to ssh2 ~1.17). Everything else in
// ssh2x/ takes what it needs from here, and checkSsh2Internals() runs at start-up: an ssh2 upgrade that renamed
// one of them fails Gatehouse's start with a coded error, instead of sendBanner or disconnectWith silently
// doing nothing. The per-connection fields are checked on each connection by connectionInternals().

const require = createRequire(import.meta.url);

type Table = Record<string, unknown>;
const load = (path: string): Table => require(`ssh2/lib/${path}`) as Table;

const constants = load('protocol/constants.js');
const utils = load('protocol/utils.js');
const crypto = load('protocol/crypto.js');
const channel = load('Channel.js');
const zlib = load('protocol/zlib.js');
const protocol = load('protocol/Protocol.js');
const common = load('utils.js');
/** ssh2's dispatch table of incoming messages, by message number. */
const handlers = require('ssh2/lib/protocol/handlers.js') as ((self: unknown, payload: Buffer) => void)[];

export const SIGNALS = constants['SIGNALS'] as Readonly<Record<string, 1>>;
const MESSAGE = (constants['MESSAGE'] ?? {}) as Readonly<Record<string, number>>;
export const DEFAULT_CIPHER = constants['DEFAULT_CIPHER'] as readonly string[];
// Handed to ssh2 as they are, never copied: ssh2 reuses its prepared key exchange offer when it gets its own
// default list back (the same array), so these are typed mutable but must never be changed.
export const DEFAULT_SERVER_HOST_KEY = constants['DEFAULT_SERVER_HOST_KEY'] as string[];
export const SUPPORTED = {
  CIPHER: constants['SUPPORTED_CIPHER'] as readonly string[],
  KEX: constants['SUPPORTED_KEX'] as readonly string[],
  MAC: constants['SUPPORTED_MAC'] as readonly string[],
  SERVER_HOST_KEY: constants['SUPPORTED_SERVER_HOST_KEY'] as readonly string[],
} as const;
export const sendPacket = utils['sendPacket'] as (proto: unknown, packet: Buffer, bypass?: boolean) => boolean;
export const bindingAvailable = crypto['bindingAvailable'] as boolean;
export const MAX_WINDOW = channel['MAX_WINDOW'] as number;
export const PACKET_SIZE = channel['PACKET_SIZE'] as number;

export interface PacketWriter {
  allocStart: number;
  allocStartKEX: number;
  alloc(n: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}

export type MessageHandler = (proto: never, ...args: unknown[]) => void;

export type ChannelOpened<C> = (err: Error | undefined, channel: C) => void;

/** The private fields of an ssh2 Connection or Client that Gatehouse uses. */
export interface ConnectionInternals {
  _protocol?: {
    _packetRW?: { write: PacketWriter };
    _kex?: { _keys?: unknown };
    /** Until the first key exchange ends, the reader of cleartext packets (client-offer.ts wraps its handler). */
    _decipher?: { _onPayload?: (payload: Uint8Array) => unknown };
    openssh_authAgent?(localChannel: number, window: number, packetSize: number): void;
    /** The server connection's handlers of incoming messages, by name (ssh2-patches.ts wraps three). */
    _handlers?: Record<string, MessageHandler | undefined>;
    serviceAccept?(name: string): void;
  };
  /** `_count`: channels ssh2 holds open (or opening) on this connection (ssh2-patches.ts reads it at close). */
  _chanMgr?: { add(pending: ChannelOpened<never> & { type: string }): number; _count?: number };
  _sock?: Socket;
  authenticated?: boolean;
}

/** The private side of an ssh2 connection (either leg). */
export function connectionInternals(conn: object): ConnectionInternals {
  return conn as ConnectionInternals;
}

const proto = (mod: Table, name: string): Table => ((mod[name] as { prototype?: Table } | undefined)?.prototype ?? {});

/**
 * Whether ssh2 still hands SERVICE_REQUEST and DISCONNECT to the connection's `_handlers` table, tried with a
 * table of our own: ssh2-patches.ts depends on it, and a table ssh2 no longer reads would make the patches
 * silently do nothing.
 */
function dispatchesThroughHandlers(): boolean {
  const seen: string[] = [];
  const self = {
    _handlers: {
      SERVICE_REQUEST: (_p: unknown, name: unknown) => seen.push(`service:${String(name)}`),
      DISCONNECT: (_p: unknown, reason: unknown) => seen.push(`disconnect:${String(reason)}`),
    },
  };
  const name = Buffer.from('ssh-userauth');
  try {
    handlers[MESSAGE['SERVICE_REQUEST'] ?? -1]?.(self, Buffer.concat([Buffer.from([MESSAGE['SERVICE_REQUEST'] ?? 0, 0, 0, 0, name.length]), name]));
    // reason 11, empty description and language
    handlers[MESSAGE['DISCONNECT'] ?? -1]?.(self, Buffer.from([MESSAGE['DISCONNECT'] ?? 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0]));
  } catch {
    return false;
  }
  return seen.join() === 'service:ssh-userauth,disconnect:11';
}

/** What must exist for the module-level part; instance fields are checked as connections arrive. */
function missingSymbols(): string[] {
  const checks: [string, boolean][] = [
    ['protocol/constants.js SIGNALS', typeof constants['SIGNALS'] === 'object'],
    ['protocol/constants.js DEFAULT_CIPHER', Array.isArray(constants['DEFAULT_CIPHER'])],
    ['protocol/constants.js DEFAULT_SERVER_HOST_KEY', Array.isArray(constants['DEFAULT_SERVER_HOST_KEY'])],
    ...(['CIPHER', 'KEX', 'MAC', 'SERVER_HOST_KEY'] as const).map((k): [string, boolean] =>
      [`protocol/constants.js SUPPORTED_${k}`, Array.isArray(constants[`SUPPORTED_${k}`])]),
    ['protocol/utils.js sendPacket', typeof utils['sendPacket'] === 'function'],
    ['protocol/crypto.js bindingAvailable', typeof crypto['bindingAvailable'] === 'boolean'],
    ['Channel.js MAX_WINDOW', typeof channel['MAX_WINDOW'] === 'number'],
    ['Channel.js PACKET_SIZE', typeof channel['PACKET_SIZE'] === 'number'],
    ['protocol/zlib.js PacketWriter.alloc', typeof proto(zlib, 'PacketWriter')['alloc'] === 'function'],
    ['protocol/zlib.js PacketWriter.finalize', typeof proto(zlib, 'PacketWriter')['finalize'] === 'function'],
    ['protocol/Protocol.js openssh_authAgent', typeof (protocol as unknown as { prototype?: Table }).prototype?.['openssh_authAgent'] === 'function'],
    ['utils.js ChannelManager.add', typeof proto(common, 'ChannelManager')['add'] === 'function'],
    ['protocol/Protocol.js serviceAccept', typeof (protocol as unknown as { prototype?: Table }).prototype?.['serviceAccept'] === 'function'],
    ['protocol/handlers.js dispatch through _protocol._handlers', dispatchesThroughHandlers()],
  ];
  return checks.filter(([, ok]) => !ok).map(([name]) => name);
}

/** Throws SSH2_INTERNALS_CHANGED naming every private symbol the installed ssh2 lacks. */
export function checkSsh2Internals(): void {
  const missing = missingSymbols();
  if (missing.length > 0) {
    throw new BastionError('SSH2_INTERNALS_CHANGED',
      `the installed ssh2 lacks what Gatehouse relies on (${missing.join(', ')}); install the ssh2 version package.json pins (~1.17)`);
  }
}

/** Whether a live connection carries the private fields Gatehouse uses (checked once per connection). */
export function connectionInternalsPresent(conn: object): boolean {
  const c = connectionInternals(conn);
  const w = c._protocol?._packetRW?.write;
  return Boolean(c._sock && c._chanMgr && typeof c._chanMgr._count === 'number' && w && typeof w.allocStart === 'number' && typeof w.allocStartKEX === 'number' &&
    typeof c._protocol?._handlers?.['SERVICE_REQUEST'] === 'function' && typeof c._protocol._handlers['DISCONNECT'] === 'function' &&
    typeof c._protocol._handlers['CHANNEL_OPEN'] === 'function' && typeof c._protocol._decipher?._onPayload === 'function');
}
