import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

// A real OpenLDAP slapd (Debian slapd) on 127.0.0.1, from a temp dir with its own slapd.conf and an mdb
// database, loaded with the test's LDIF through ldapadd (Debian ldap-utils).

export const LDAP_SUFFIX = 'dc=example,dc=com';
export const LDAP_ADMIN = `cn=admin,${LDAP_SUFFIX}`;

export interface Slapd {
  readonly url: string;
  readonly adminPassword: string;
  stop(): Promise<void>;
}

export async function startSlapd(ldif: string): Promise<Slapd> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-slapd-'));
  const adminPassword = 'Ldap-Admin-3141';
  mkdirSync(join(dir, 'db'));
  const schemas = ['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include /etc/ldap/schema/${s}.schema`).join('\n');
  writeFileSync(join(dir, 'slapd.conf'), `${schemas}
pidfile ${join(dir, 'slapd.pid')}
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "${LDAP_SUFFIX}"
rootdn "${LDAP_ADMIN}"
rootpw ${adminPassword}
directory ${join(dir, 'db')}
index objectClass eq
`);
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('/usr/sbin/slapd', ['-h', `${url}/`, '-f', join(dir, 'slapd.conf'), '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 20_000, () => (child.exitCode !== null ? `slapd exited: ${stderr}` : undefined));
    const add = spawnSync('ldapadd', ['-x', '-H', url, '-D', LDAP_ADMIN, '-w', adminPassword], { input: ldif, encoding: 'utf8', timeout: 20_000 });
    if (add.status !== 0) throw new Error(`ldapadd failed: ${add.stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, adminPassword, stop };
}
