import { DEFAULT_CIPHER } from './internals.js';

// The inbound algorithm offer. SSH picks the first algorithm on the *client's* list that the server offers, and
// stock OpenSSH lists chacha20-poly1305 and the AES-CTR ciphers before AES-GCM. On CPUs with AES instructions
// AES-GCM is the fastest by far, so there the default offer is AES-GCM, plus AES-CBC for clients without GCM
// (OpenSSH no longer lists CBC, so it never picks it over GCM). Without AES instructions ssh2's own order,
// chacha20-poly1305 first, stays. Administrators can set every list in config.yaml (ssh.ciphers, ...).

/** ssh2 puts chacha20-poly1305 first exactly when it knows the CPU lacks AES instructions. */
export function cpuHasAes(): boolean {
  return DEFAULT_CIPHER[0] !== 'chacha20-poly1305@openssh.com';
}

export function defaultInboundCiphers(): string[] {
  if (!cpuHasAes()) return [...DEFAULT_CIPHER];
  return ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes256-cbc', 'aes128-cbc'];
}
