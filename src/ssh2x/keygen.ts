import { generateKeyPairSync, randomBytes } from 'node:crypto';

// Key generation for Gatehouse's own keys. ssh2's utils.generateKeyPairSync writes about one ed25519 key in
// 256 with a 31-byte public key (a leading zero byte dropped), which its own parser then rejects as
// "Malformed OpenSSH private key"; so ed25519 keys are encoded here, from Node's crypto, in the OpenSSH
// format that ssh2 and OpenSSH both read (PROTOCOL.key).

export interface KeyPair {
  /** The private key file's text. */
  readonly private: string;
  /** `<type> <base64> <comment>` as in authorized_keys. */
  readonly public: string;
}

const uint32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const sshString = (b: Buffer | string): Buffer => {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([uint32(body.length), body]);
};

// Both generators have Node encode the keys inside generateKeyPairSync instead of calling export() on the
// returned key objects: Node 20.20 can deadlock in export() when a garbage collection during it finalizes
// the finished generation job of the same key, whose destructor takes the key's lock that export() holds
// (seen in gdb: ExportJWKEdKey -> GC -> ~KeyGenJob -> uv_mutex_lock; about 1 run in 8 of 2,000 keys).

interface Jwk { readonly x?: string; readonly d?: string; readonly n?: string; readonly e?: string }
/** generateKeyPairSync with encodings; Node's type definitions lack the 'jwk' format it accepts there. */
const generateEncoded = generateKeyPairSync as unknown as <Pub, Priv>(type: string, options: object) => { publicKey: Pub; privateKey: Priv };

export function generateEd25519(comment: string): KeyPair {
  const { privateKey: jwk } = generateEncoded<Jwk, Jwk>('ed25519', { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } });
  const pub = Buffer.from(jwk.x!, 'base64url');
  const seed = Buffer.from(jwk.d!, 'base64url');
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4).readUInt32BE();
  let secret = Buffer.concat([
    uint32(check), uint32(check),
    sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment),
  ]);
  // Padding 1, 2, 3, ... up to the cipher block size (8 for "none").
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), uint32(1),
    sshString(publicBlob), sshString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return {
    private: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    public: `ssh-ed25519 ${publicBlob.toString('base64')} ${comment}`,
  };
}

export function generateRsa(bits: number, comment: string): KeyPair {
  const { privateKey, publicKey: jwk } = generateEncoded<Jwk, string>('rsa', {
    modulusLength: bits, publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  // ssh-rsa blob: e and n as SSH mpints (a leading zero byte where the top bit is set).
  const mpint = (b64: string): Buffer => {
    const raw = Buffer.from(b64, 'base64url');
    return sshString(raw[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), raw]) : raw);
  };
  const blob = Buffer.concat([sshString('ssh-rsa'), mpint(jwk.e!), mpint(jwk.n!)]);
  return {
    private: privateKey,
    public: `ssh-rsa ${blob.toString('base64')} ${comment}`,
  };
}
