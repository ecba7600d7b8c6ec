import { DEFAULT_CIPHER } from './internals.js';

// The inbound algorithm offer. SSH picks the first algorithm on the *client's* list that the server offers.
// On CPUs with AES instructions the default offer puts AES-GCM first (the fastest there, for clients that
// prefer it), then chacha20-poly1305 and AES-CTR, which clients without GCM need: Dropbear's dbclient as
// Debian builds it has neither GCM nor CBC. Stock OpenSSH lists chacha20-poly1305 first, so it picks that
// (about a third slower through a relay than AES-GCM; README "config.yaml reference" shows how to offer
// AES-GCM only). AES-CBC stays last for old clients. Without AES instructions ssh2's own order, chacha20-poly1305
// first, stays. Administrators can set every list in config.yaml (ssh.ciphers, ...).

/** ssh2 puts chacha20-poly1305 first exactly when it knows the CPU lacks AES instructions. */
export function cpuHasAes(): boolean {
  return DEFAULT_CIPHER[0] !== 'chacha20-poly1305@openssh.com';
}

export function defaultInboundCiphers(): string[] {
  if (!cpuHasAes()) return [...DEFAULT_CIPHER];
  return [
    'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com',
    'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'aes256-cbc', 'aes128-cbc',
  ];
}
