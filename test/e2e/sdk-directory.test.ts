import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startHttpService, type HttpService } from '../helpers/http-service.js';
import { runSsh } from '../helpers/openssh.js';
import { scenarioHosts, targetKnownHosts } from '../helpers/scenario.js';
import { LDAP_ADMIN, LDAP_SUFFIX, startSlapd, type Slapd } from '../helpers/slapd.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// The SDK's directory features for every AA plugin, through the sdk_mfa test plugin and real ssh logins:
// [whitelist source=user_list] against config.yaml's user lists, and [usermapping source=ldap_server] and
// [whitelist source=ldap_server_group] against a real OpenLDAP slapd on loopback (config.yaml's LDAP server
// policy, bind password from an environment variable).

const CODE = '135790';
const MFA_ID = 'ghtest-token-7';
const aliases = ['wl-skip', 'wl-ask', 'ldap-map', 'ldap-group', 'ldap-group-other'];

describe('SDK whitelists and LDAP user mapping (user lists, OpenLDAP slapd)', () => {
  let sshd: Sshd;
  let gh: Gatehouse;
  let slapd: Slapd;
  let mfa: HttpService;
  let sessions = 0;
  const ssh = (alias: string, answers: string[] = []) => {
    sessions++;
    return runSsh({ port: gh.port, knownHosts: gh.knownHosts, login: `${sshd.user}@${alias}`, answers, command: 'id -un' });
  };
  const otps = () => mfa.requests.filter((r) => r.path === '/otp');

  before(async () => {
    sshd = await startSshd();
    const user = sshd.user;
    slapd = await startSlapd(`dn: ${LDAP_SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,${LDAP_SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${LDAP_SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: uid=${user},ou=people,${LDAP_SUFFIX}
objectClass: inetOrgPerson
uid: ${user}
cn: Gatehouse Test
sn: Test
description: ${MFA_ID}

dn: cn=Break-Glass,ou=groups,${LDAP_SUFFIX}
objectClass: posixGroup
cn: Break-Glass
gidNumber: 5001
memberUid: ${user}

dn: cn=others,ou=groups,${LDAP_SUFFIX}
objectClass: posixGroup
cn: others
gidNumber: 5002
memberUid: somebody
`);
    mfa = await startHttpService((req) => {
      const body = req.body as { user: string; code?: string };
      return { body: { valid: body.code === CODE && (body.user === user || body.user === MFA_ID) } };
    });
    process.env['GH_TEST_LDAP_PASSWORD'] = slapd.adminPassword;
    const acme = `[acme]\napi_url = ${mfa.url}\n`;
    const configs: Record<string, string> = {
      'wl-skip': `${acme}[whitelist source=user_list]\nname = no-mfa\n`,
      'wl-ask': `${acme}[whitelist source=user_list]\nname = contractors\n`,
      'ldap-map': `${acme}[usermapping source=ldap_server]\nuser_attribute = description\n[ldap_server]\nname = corp\n`,
      'ldap-group': `${acme}[whitelist source=ldap_server_group]\nallow = no_user\nexcept = break-glass\n[ldap_server]\nname = corp\n`,
      'ldap-group-other': `${acme}[whitelist source=ldap_server_group]\nallow = no_user\nexcept = others\n[ldap_server]\nname = corp\n`,
    };
    gh = await startGatehouse({
      plugins: ['sdk_mfa'],
      policies: () => aliases.map((alias) => ({
        name: alias,
        aa_plugin: { name: 'sdk_mfa', configuration: configs[alias] },
        targets: { allow: [{ hosts: [alias], ports: [sshd.port] }] },
        target_auth: { method: 'key' },
        host_key_check: { known_hosts: 'target_known_hosts' },
      })),
      extra: () => ({
        hosts: scenarioHosts(sshd, aliases.map((alias) => ({ alias }))),
        sdk: {
          user_lists: { 'no-mfa': { allow: 'no_user', except: [user] }, contractors: { allow: 'no_user', except: ['carol'] } },
          ldap_servers: {
            corp: { url: slapd.url, bind_dn: LDAP_ADMIN, bind_password: { env: 'GH_TEST_LDAP_PASSWORD' }, base_dn: LDAP_SUFFIX, membership: 'posix' },
          },
        },
      }),
      files: () => targetKnownHosts(sshd),
    });
    sshd.authorize(gh.clientKeyLine);
  });
  after(async () => {
    await gh?.stop();
    await sshd?.stop();
    await slapd?.stop();
    await mfa?.stop();
    delete process.env['GH_TEST_LDAP_PASSWORD'];
  });

  test('[whitelist source=user_list]: a listed user skips MFA, another user is asked', async () => {
    const before = otps().length;
    const skip = await ssh('wl-skip');
    assert.equal(skip.code, 0, skip.stderr);
    assert.deepEqual(skip.prompts, []);
    assert.equal(otps().length, before, 'the MFA service was not asked');
    const ask = await ssh('wl-ask', [CODE]);
    assert.equal(ask.code, 0, ask.stderr);
    assert.equal(ask.prompts.length, 1);
    assert.equal(otps().length, before + 1);
  });

  test('[usermapping source=ldap_server]: the MFA identity comes from the user\'s LDAP attribute', async () => {
    const r = await ssh('ldap-map', [CODE]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(otps().at(-1)!.body, { user: MFA_ID, code: CODE });
  });

  test('[whitelist source=ldap_server_group]: a member of an except group skips MFA (case-insensitive), others do not', async () => {
    const before = otps().length;
    const skip = await ssh('ldap-group');
    assert.equal(skip.code, 0, skip.stderr);
    assert.deepEqual(skip.prompts, []);
    const ask = await ssh('ldap-group-other', [CODE]);
    assert.equal(ask.code, 0, ask.stderr);
    assert.equal(ask.prompts.length, 1);
    assert.equal(otps().length, before + 1);
    assert.ok(!JSON.stringify(gh.logs).includes(slapd.adminPassword), 'the bind password reached the log');
  });
});
