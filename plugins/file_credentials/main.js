// Example credential-store plugin: looks up the target account in a JSON file and hands Gatehouse its
// passwords and private keys (spec 6). Configuration (INI, as SPS passes it):
//
//   [file]
//   path = /etc/gatehouse/credentials.json
//
// The file (keep it mode 0600):
//
//   { "accounts": [
//       { "host": "db01", "user": "root",
//         "passwords": ["..."],
//         "private_keys": [{ "type": "ssh-ed25519", "file": "keys/db01_root" }] },
//       { "host": "*", "user": "deploy", "passwords": ["..."] } ] }
//
// "host" matches the target's name as the user typed it or its address ("*" matches any); relative key
// files are relative to the JSON file.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

function settings(configuration) {
  const out = {};
  let section = '';
  for (const raw of String(configuration ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1].trim();
    else if (section === 'file') {
      const m = /^([^=:]+)[=:](.*)$/.exec(line);
      if (m) out[m[1].trim()] = m[2].trim();
    }
  }
  if (!out.path) throw new Error('configuration needs [file] path = /path/to/credentials.json');
  return out;
}

export class Plugin {
  constructor(configuration) {
    this.path = settings(configuration).path;
  }

  account({ server_username, server_hostname, server_ip, target_host }) {
    const { accounts = [] } = JSON.parse(readFileSync(this.path, 'utf8'));
    const names = [server_hostname, server_ip, target_host].filter(Boolean).map((n) => n.toLowerCase());
    return accounts.find((a) => a.user === server_username && (a.host === '*' || names.includes(String(a.host).toLowerCase())));
  }

  get_private_key_list(args) {
    const a = this.account(args);
    if (!a) return { private_keys: [] };
    const base = dirname(this.path);
    const keys = (a.private_keys ?? []).map((k) => [k.type, readFileSync(isAbsolute(k.file) ? k.file : join(base, k.file), 'utf8')]);
    return { private_keys: keys, cookie: { ...args.cookie, account: `${a.user}@${a.host}` } };
  }

  get_password_list(args) {
    const a = this.account(args);
    return { passwords: a?.passwords ?? [], cookie: { ...args.cookie, ...(a ? { account: `${a.user}@${a.host}` } : {}) } };
  }

  authentication_completed({ session_id, cookie }) {
    console.log(`credential of ${cookie.account ?? 'an unknown account'} used for session ${session_id}`);
  }

  session_ended({ session_id, cookie }) {
    console.log(`session ${session_id} ended${cookie.account ? ` (account ${cookie.account})` : ''}`);
  }
}
