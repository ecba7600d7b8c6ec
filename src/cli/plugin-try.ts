import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pino from 'pino';
import { BastionError } from '../core/errors.js';
import type { JsonObject } from '../plugins/contract.js';
import { parseManifest } from '../plugins/manifest.js';
import { PluginHost } from '../plugins/plugin-host.js';
import type { ShownTrace } from '../session/hook-trace.js';
import { runHookSequence, type SequenceResult } from '../session/hook-sequence.js';
import type { KeyedPrompter } from '../session/needinfo.js';
import { parseTarget, parseUsername } from '../target/username.js';

// `gatehouse plugin try DIR`: runs a plugin's hook sequence in the terminal, with no SSH and no target, through
// the real plugin host and the same session clients a login uses (session/hook-sequence.ts). Questions are
// asked on the terminal (echo off where the plugin asks for it) or answered from --answers; every call is
// shown with its verdict and cookies; --json prints the whole sequence for a plugin's own tests.
// Exit status: 0 when the login would go on (ACCEPT, NONE, credentials found), 1 when refused or failed, 2 on
// a usage error.

export interface TryOptions {
  readonly dir: string;
  readonly username: string;
  readonly configuration: string | undefined;
  readonly clientIp: string;
  readonly target: string | undefined;
  readonly answers: string | undefined;
  readonly json: boolean;
  readonly python: string;
  readonly timeoutS: number;
  readonly gatewayUser: string | undefined;
  readonly sessionCookie: string | undefined;
}

export interface TryIo {
  readonly out: (t: string) => void;
  readonly err: (t: string) => void;
}

/** A mistake in how `plugin try` was called (exit status 2). */
export class UsageError extends Error {}

/** `TEXT` as given, or the contents of FILE for `@FILE`. */
function textOrFile(v: string): string {
  return v.startsWith('@') ? readFileSync(v.slice(1), 'utf8') : v;
}

/** `key=value,key=value` (or one per line in @FILE); a key given more than once answers its questions in turn. */
export function parseAnswers(spec: string): Map<string, string[]> {
  const text = textOrFile(spec);
  const items = spec.startsWith('@') ? text.split('\n') : text.split(',');
  const answers = new Map<string, string[]>();
  for (const item of items.map((i) => i.replace(/\r$/, '')).filter((i) => i.trim() !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--answers: "${item}" is not key=value`);
    const key = item.slice(0, eq).trim();
    answers.set(key, [...(answers.get(key) ?? []), item.slice(eq + 1)]);
  }
  return answers;
}

/** Asks on the terminal; with echo off nothing typed is shown (not even stars). */
function askTerminal(prompt: string, echo: boolean): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const muted = rl as unknown as { _writeToOutput(s: string): void };
    rl.question(prompt, (answer) => {
      if (!echo) process.stderr.write('\n');
      rl.close();
      resolvePromise(answer);
    });
    if (!echo) muted._writeToOutput = () => undefined;
    rl.on('SIGINT', () => {
      rl.close();
      reject(new BastionError('CLIENT_GONE', 'interrupted at a question'));
    });
  });
}

function prompterFor(scripted: Map<string, string[]> | undefined, io: TryIo, json: boolean): KeyedPrompter {
  const used = new Map<string, number>();
  return {
    ask: async (key, prompt, echo) => {
      const list = scripted?.get(key);
      if (list && list.length > 0) {
        const n = used.get(key) ?? 0;
        used.set(key, n + 1);
        const answer = list[Math.min(n, list.length - 1)]!;
        if (!json) io.err(`${prompt}${echo ? answer : ''}   (from --answers)\n`);
        return answer;
      }
      if (!process.stdin.isTTY) {
        throw new UsageError(`the plugin asks "${key}" (${JSON.stringify(prompt)}) and no answer was given: add --answers ${key}=...`);
      }
      return askTerminal(prompt, echo);
    },
  };
}

function showStep(t: ShownTrace, io: TryIo): void {
  const r = t.result as JsonObject | null | undefined;
  let head: string;
  if (t.error) head = `FAILED ${t.error.code}: ${t.error.message.split('\n')[0]}`;
  else if (r && typeof r === 'object' && !Array.isArray(r) && typeof r['verdict'] === 'string') {
    head = String(r['verdict']);
    const q = r['question'];
    if (head === 'NEEDINFO' && Array.isArray(q)) head += ` ${String(q[0])}: ${JSON.stringify(q[1])}${q[2] ? ' (echo off)' : ''}`;
    if (typeof r['reason'] === 'string') head += ` reason: ${JSON.stringify(r['reason'])}`;
    if (typeof r['gateway_user'] === 'string') head += ` gateway_user: ${r['gateway_user']} ${JSON.stringify(r['gateway_groups'] ?? [])}`;
  } else head = JSON.stringify(t.result ?? null);
  io.out(`${t.hook} -> ${head}  (${t.ms} ms)\n`);
  if ('key_value_pairs' in t.args) io.out(`    key_value_pairs ${JSON.stringify(t.args['key_value_pairs'])}\n`);
  io.out(`    cookie          ${JSON.stringify(t.cookie.before)} -> ${JSON.stringify(t.cookie.after)}\n`);
  io.out(`    session_cookie  ${JSON.stringify(t.session_cookie.before)} -> ${JSON.stringify(t.session_cookie.after)}\n`);
}

export async function tryPlugin(o: TryOptions, io: TryIo): Promise<number> {
  const dir = resolve(o.dir);
  const manifestFile = join(dir, 'MANIFEST');
  if (!existsSync(manifestFile)) throw new UsageError(`${dir}: no MANIFEST file`);
  const check = parseManifest(readFileSync(manifestFile, 'utf8'), manifestFile);
  if (!check.ok) throw new BastionError('MANIFEST_INVALID', check.errors.join('\n'));
  const m = check.manifest;
  if (basename(dir) !== m.name) throw new BastionError('MANIFEST_INVALID', `${dir}: the folder must be named as the plugin ("${m.name}")`);
  const parsed = parseUsername(o.username);
  if (!parsed.ok) throw new UsageError(`--username: ${parsed.message}`);
  const request = parsed.request;
  const targetSpec = o.target !== undefined ? parseTarget(o.target) : request.target ?? { host: 'localhost', port: 22 };
  if (typeof targetSpec === 'string') throw new UsageError(`--target: ${targetSpec}`);
  const scripted = o.answers !== undefined ? parseAnswers(o.answers) : undefined;
  if (isIP(o.clientIp) === 0) throw new UsageError(`--client-ip: ${o.clientIp} is not an IP address`);

  // What the plugin prints arrives as plugin.output log lines: shown as they come, and kept for --json.
  const output: { hook: string | undefined; stream: string; line: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) {
        const e = JSON.parse(l) as { event?: string; msg: string; hook?: string; stream?: string; level: number };
        if (e.event === 'plugin.output') {
          output.push({ hook: e.hook, stream: e.stream ?? 'stdout', line: e.msg });
          if (!o.json) io.out(`    | ${e.msg}\n`);
        } else if (e.level >= 40 && !o.json) io.err(`${e.msg}\n`);
      }
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-try-'));
  const host = new PluginHost({
    pluginsDir: dirname(dir), stateDir: join(scratch, 'state'), ephemeralDir: join(scratch, 'run'),
    warmWorkers: 0, maxActive: 1, memoryMb: 256, python: o.python, log,
  });
  const steps: ShownTrace[] = [];
  let result: SequenceResult;
  try {
    const plugin = await host.load(m.name, m.type);
    if (!o.json) io.out(`${m.name} ${m.version}: ${m.type === 'aa' ? 'AA plugin' : 'credential store'}, ${plugin.runtime}; user ${request.serverUser}, target ${targetSpec.host}:${targetSpec.port ?? 22}\n`);
    result = await runHookSequence({
      plugin,
      configuration: o.configuration === undefined ? '' : textOrFile(o.configuration),
      request,
      client: { ip: o.clientIp, port: 50_000 },
      target: { name: targetSpec.host, address: targetSpec.host, port: targetSpec.port ?? 22 },
      connectionName: 'try',
      timeoutMs: o.timeoutS * 1000,
      needinfoRounds: 10,
      prompter: prompterFor(scripted, io, o.json),
      trace: (t) => {
        steps.push(t);
        if (!o.json) showStep(t, io);
      },
      log: log.child({ sid: 'try' }),
      gateway: o.gatewayUser ? { user: o.gatewayUser, groups: [] } : undefined,
      sessionCookie: o.sessionCookie ? (JSON.parse(textOrFile(o.sessionCookie)) as JsonObject) : undefined,
    });
    // Output of the last call may still be on its way through the runner's pipes.
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    await host.close(true);
    rmSync(scratch, { recursive: true, force: true });
  }
  const ok = ['ACCEPT', 'NONE', 'CREDENTIALS'].includes(result.outcome);
  if (o.json) {
    io.out(`${JSON.stringify({
      plugin: m.name, version: m.version, type: m.type, session_id: result.sessionId, server_username: request.serverUser,
      target: { host: targetSpec.host, port: targetSpec.port ?? 22 }, outcome: result.outcome,
      ...(result.code ? { code: result.code, user_message: result.userMessage } : {}),
      ...(result.gateway ? { gateway: result.gateway } : {}),
      ...(result.credentials ? { credentials: { private_keys: result.credentials.privateKeys, passwords: result.credentials.passwords } } : {}),
      steps, output,
    }, null, 2)}\n`);
  } else {
    const detail = result.code ? ` ${result.code}: the user reads ${JSON.stringify(result.userMessage)}` : '';
    const creds = result.credentials ? ` (${result.credentials.privateKeys} private keys, ${result.credentials.passwords} passwords)` : '';
    io.out(`result: ${result.outcome}${detail}${creds}${result.gateway ? `; gateway user ${result.gateway.user}` : ''}\n`);
  }
  return ok ? 0 : 1;
}
