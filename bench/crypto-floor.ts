import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

// What any SSH relay must spend on AES-GCM alone: every byte is decrypted from one leg and encrypted again
// for the other, since each leg has its own keys. Measured with the very code Gatehouse runs, ssh2's native
// binding (OpenSSL), on 32 KiB packets, the size of OpenSSH's channel packets.

interface GcmCipher { encrypt(packet: Buffer): void }
interface GcmDecipher { decrypt(packet: Buffer, length: number, tag: Buffer): void }
const require = createRequire(import.meta.url);
const binding = require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node') as {
  AESGCMCipher: new (name: string, key: Buffer, iv: Buffer) => GcmCipher;
  AESGCMDecipher: new (name: string, key: Buffer, iv: Buffer) => GcmDecipher;
};

const LENGTH = 32 * 1024;

/** CPU seconds per GiB to decrypt and encrypt again with aes128-gcm on this machine (best of three). */
export function aesGcmRelayFloor(mebibytes = 256): number {
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = new binding.AESGCMCipher('aes-128-gcm', key, iv);
  const decipher = new binding.AESGCMDecipher('aes-128-gcm', key, iv);
  // <length> <encrypted part> <tag>, as on the wire; each round trip leaves the plaintext in place.
  const packet = randomBytes(4 + LENGTH + 16);
  packet.writeUInt32BE(LENGTH, 0);
  const body = packet.subarray(4, 4 + LENGTH);
  const tag = packet.subarray(4 + LENGTH);
  const packets = (mebibytes * 1024 * 1024) / LENGTH;
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = process.cpuUsage();
    for (let i = 0; i < packets; i++) {
      cipher.encrypt(packet);
      decipher.decrypt(body, LENGTH, tag);
    }
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  return best / (mebibytes / 1024);
}
