import assert from 'node:assert/strict';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import type { Runtime } from '../../src/session/runtime.js';
import { serverConfig } from '../../src/ssh/server.js';

// ssh.client_alive_interval: 0 means "never ask", as in OpenSSH. ssh2 reads a 0 interval as "use my default"
// (a check every 15 s), so Gatehouse must not pass 0 through.

const runtime = (clientAliveIntervalMs: number): Runtime => ({
  hostKeys: [],
  config: { ssh: { clientAliveIntervalMs, clientAliveCountMax: 3, targetAliveIntervalMs: 15_000, targetAliveCountMax: 3 } },
}) as unknown as Runtime;

test('client_alive_interval 0: no alive checks, although ssh2 would put its own default in place of 0', () => {
  const fallback = (ssh2.Server as unknown as { KEEPALIVE_CLIENT_INTERVAL: number }).KEEPALIVE_CLIENT_INTERVAL;
  assert.ok(fallback > 0 && fallback < 60_000, 'ssh2 has a short default interval for 0');
  const config = serverConfig(runtime(0));
  assert.equal(config.keepaliveInterval, 2 ** 31 - 1); // the longest a Node timer waits: 24.8 days
});

test('client_alive_interval and count_max reach ssh2 as they are', () => {
  const config = serverConfig(runtime(1_500));
  assert.equal(config.keepaliveInterval, 1_500);
  assert.equal(config.keepaliveCountMax, 3);
});

test('the ssh2 patches find ssh2 dispatching through its handler table; a changed ssh2 is a coded start-up error', async () => {
  const { createRequire } = await import('node:module');
  const { checkSsh2Internals } = await import('../../src/ssh2x/internals.js');
  const { BastionError } = await import('../../src/core/errors.js');
  checkSsh2Internals();
  const require = createRequire(import.meta.url);
  const handlers = require('ssh2/lib/protocol/handlers.js') as unknown[];
  const { MESSAGE } = require('ssh2/lib/protocol/constants.js') as { MESSAGE: Record<string, number> };
  const original = handlers[MESSAGE['SERVICE_REQUEST']!];
  handlers[MESSAGE['SERVICE_REQUEST']!] = () => undefined; // as if ssh2 dispatched some other way
  try {
    assert.throws(() => checkSsh2Internals(), (err: unknown) => err instanceof BastionError && err.code === 'SSH2_INTERNALS_CHANGED' && /_handlers/.test(err.message));
  } finally {
    handlers[MESSAGE['SERVICE_REQUEST']!] = original;
  }
});
