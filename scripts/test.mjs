#!/usr/bin/env node
// `npm test`: makes sure the real OpenSSH client and server (and xauth) are there (installing them with apt-get when
// running as root), that ssh2's native crypto binding is built, then runs every compiled test file.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((d) => existsSync(join(d, cmd)));
const missing = () => [
  ...['ssh', 'scp', 'sftp', 'ssh-keygen'].filter((c) => !onPath(c)).map(() => 'openssh-client'),
  ...(existsSync('/usr/sbin/sshd') ? [] : ['openssh-server']),
  // sshd needs xauth to offer X11 forwarding (the X11 tests).
  ...(existsSync('/usr/bin/xauth') ? [] : ['xauth']),
  // Clients other than OpenSSH's (the interop tests): Dropbear's dbclient, paramiko, PuTTY's plink, pscp and
  // psftp, and asyncssh.
  ...(onPath('dbclient') ? [] : ['dropbear-bin']),
  ...(existsSync('/usr/lib/python3/dist-packages/paramiko') ? [] : ['python3-paramiko']),
  ...(['plink', 'pscp', 'psftp'].every(onPath) ? [] : ['putty-tools']),
  ...(existsSync('/usr/lib/python3/dist-packages/asyncssh') ? [] : ['python3-asyncssh']),
  // The SPS Plugin SDK tests: the Python environment SPS gives plugins, pyrad, and the real OpenLDAP and
  // FreeRADIUS servers they start on loopback (the packages' own services are stopped below).
  ...[['requests', 'python3-requests'], ['urllib3', 'python3-urllib3'], ['yaml', 'python3-yaml'], ['OpenSSL', 'python3-openssl'],
    ['ldap', 'python3-ldap'], ['pyrad', 'python3-pyrad']]
    .filter(([mod]) => !existsSync(`/usr/lib/python3/dist-packages/${mod}`)).map(([, pkg]) => pkg),
  ...(existsSync('/usr/sbin/slapd') ? [] : ['slapd']),
  ...(onPath('ldapadd') ? [] : ['ldap-utils']),
  ...(existsSync('/usr/sbin/freeradius') ? [] : ['freeradius']),
].filter((p, i, a) => a.indexOf(p) === i);

let packages = missing();
if (packages.length > 0) {
  if (process.getuid?.() === 0 && onPath('apt-get')) {
    console.log(`installing ${packages.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      r = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
    }
    packages = missing();
    // The tests run their own slapd and freeradius; the services the packages may have started must not stay.
    for (const service of ['slapd', 'freeradius']) spawnSync('sh', ['-c', `systemctl disable --now ${service} || service ${service} stop`], { stdio: 'ignore' });
  }
  if (packages.length > 0) {
    console.error(`The end-to-end tests need the real OpenSSH client and server, xauth, and the servers and Python modules the SDK tests use. Install: ${packages.join(' ')}`);
    console.error(`  (for example: sudo apt-get install ${packages.join(' ')})`);
    process.exit(1);
  }
}

const require = createRequire(join(root, 'package.json'));
if (!require('ssh2/lib/protocol/crypto.js').bindingAvailable) {
  console.error('ssh2 native crypto binding is not built (throughput would be ~10x lower). Fix: npm rebuild ssh2 (needs python3, make, g++)');
  process.exit(1);
}

// The default run: unit and end-to-end tests. `--smoke` runs the smoke tests of tools (the benchmark) instead.
const smoke = process.argv.includes('--smoke');
const only = process.argv.slice(2).filter((a) => a !== '--smoke');
const filesOf = (sub) => {
  const d = join(root, 'build', 'test', sub);
  const all = existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(d, f)) : [];
  return only.length > 0 ? all.filter((f) => only.some((o) => f.includes(o))) : all;
};
// Unit files two at a time: they start no sshd and mostly wait (servers starting, timers), so pairs halve
// their wall time. End-to-end files one at a time: each starts sshd, Gatehouse and OpenSSH clients, and on a
// two-core machine running them side by side makes their timing checks flaky for no gain in wall time.
const batches = smoke ? [[filesOf('smoke'), 1]] : [[filesOf('unit'), 2], [filesOf('e2e'), 1]];
if (batches.every(([files]) => files.length === 0)) {
  console.error(`no compiled test file matches ${only.join(' ') || '(any)'}: run npm run build:test first?`);
  process.exit(1);
}
let status = 0;
for (const [selected, concurrency] of batches) {
  if (selected.length === 0) continue;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000',
    '--test-reporter=tap', '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'failure-summary.mjs')}`, '--test-reporter-destination=stderr',
    ...selected], { stdio: 'inherit', cwd: root });
  status ||= r.status ?? 1;
}
process.exit(status);
