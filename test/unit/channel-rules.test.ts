import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { ALLOW_ALL } from '../../src/config/channel-policy.js';
import { BastionError } from '../../src/core/errors.js';
import { isScpCommand, refusingRule } from '../../src/session/channel-rules.js';

// The decisions of the policy's channels: section, and its validation (file, line and key in every error).

const base = (channels: string): string => `listen: ["127.0.0.1:2222"]
policies:
  - name: p
    target: { host: h }
    target_auth: { method: password }
${channels}`;

const policy = (channels: string) => parseConfig(base(channels), '/etc/gatehouse/config.yaml').policies[0]!.channels;

function error(channels: string): string {
  try {
    parseConfig(base(channels), '/etc/gatehouse/config.yaml');
  } catch (err) {
    assert.ok(err instanceof BastionError);
    return err.message;
  }
  throw new Error('accepted');
}

describe('channel rules', () => {
  test('no channels: section allows everything', () => {
    assert.deepEqual(policy(''), ALLOW_ALL);
    for (const req of [{ kind: 'shell' }, { kind: 'pty' }, { kind: 'exec', command: 'rm -rf ~' }, { kind: 'subsystem', name: 'sftp' }, { kind: 'env', name: 'X' }] as const) {
      assert.equal(refusingRule(ALLOW_ALL, req), undefined);
    }
  });

  test('exec patterns match whole commands; * never spans shell metacharacters', () => {
    const p = policy('    channels:\n      exec: ["tail -n * /var/log/*", "uptime"]\n');
    assert.equal(refusingRule(p, { kind: 'exec', command: 'uptime' }), undefined);
    assert.equal(refusingRule(p, { kind: 'exec', command: 'tail -n 50 /var/log/syslog' }), undefined);
    for (const command of ['uptime; id', 'uptimex', ' uptime', 'tail -n 5 /var/log/x; id', 'tail -n $(id) /var/log/x', 'tail -n 5 /var/log/x\nid', "tail -n '5' /var/log/x", 'tail -n 5 /var/log/`id`']) {
      assert.equal(refusingRule(p, { kind: 'exec', command }), 'channels.exec', command);
    }
    assert.equal(refusingRule(policy('    channels: { exec: false }\n'), { kind: 'exec', command: 'ls' }), 'channels.exec');
  });

  test('scp is recognised only as a plain scp -t/-f command, and ruled by scp:', () => {
    assert.ok(isScpCommand('scp -t /tmp/x'));
    assert.ok(isScpCommand('scp -v -r -f -- /srv/data'));
    assert.ok(isScpCommand('/usr/bin/scp -t .'));
    assert.ok(!isScpCommand('scp -t /x; id'));
    assert.ok(!isScpCommand('scpx -t /x'));
    assert.ok(!isScpCommand('scp /a /b'));
    const noScp = policy('    channels: { scp: false }\n');
    assert.equal(refusingRule(noScp, { kind: 'exec', command: 'scp -t /tmp' }), 'channels.scp');
    assert.equal(refusingRule(noScp, { kind: 'exec', command: 'ls' }), undefined);
    // scp allowed while other commands are not
    const onlyScp = policy('    channels: { exec: false }\n');
    assert.equal(refusingRule(onlyScp, { kind: 'exec', command: 'scp -f /srv/x' }), undefined);
    assert.equal(refusingRule(onlyScp, { kind: 'exec', command: 'scp -f /srv/x && id' }), 'channels.exec');
  });

  test('subsystems and env names', () => {
    const p = policy('    channels:\n      subsystems: [sftp]\n      env: [LANG, "LC_*"]\n      shell: false\n      pty: false\n');
    assert.equal(refusingRule(p, { kind: 'subsystem', name: 'sftp' }), undefined);
    assert.equal(refusingRule(p, { kind: 'subsystem', name: 'netconf' }), 'channels.subsystems');
    assert.equal(refusingRule(p, { kind: 'env', name: 'LC_ALL' }), undefined);
    assert.equal(refusingRule(p, { kind: 'env', name: 'LANG' }), undefined);
    assert.equal(refusingRule(p, { kind: 'env', name: 'LANGUAGE' }), 'channels.env');
    assert.equal(refusingRule(p, { kind: 'env', name: 'LD_PRELOAD' }), 'channels.env');
    assert.equal(refusingRule(p, { kind: 'shell' }), 'channels.shell');
    assert.equal(refusingRule(p, { kind: 'pty' }), 'channels.pty');
  });

  test('errors name file, line and key', () => {
    assert.match(error('    channels:\n      shel: false\n'), /config\.yaml:7: policies\.0\.channels\.shel: unknown key "shel"/);
    assert.match(error('    channels:\n      exec: "ls"\n'), /config\.yaml:7: policies\.0\.channels\.exec: must be true, false or a list/);
    assert.match(error('    channels:\n      env: [LANG, "A-B"]\n'), /config\.yaml:7: policies\.0\.channels\.env\.1: "A-B" is not a variable name pattern/);
    assert.match(error('    channels:\n      pty: "no"\n'), /config\.yaml:7: policies\.0\.channels\.pty: must be true or false/);
  });
});
