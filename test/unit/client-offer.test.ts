import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { offerFor, parseKexinit } from '../../src/ssh2x/client-offer.js';

// The client's KEXINIT as Gatehouse reads it for the log line of a failed negotiation (the e2e interop tests
// check the line itself with real clients).

const nameList = (s: string): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(Buffer.byteLength(s));
  return Buffer.concat([len, Buffer.from(s)]);
};

const kexinit = (lists: string[]): Buffer =>
  Buffer.concat([Buffer.from([20]), Buffer.alloc(16, 7), ...lists.map(nameList), Buffer.from([0, 0, 0, 0, 0])]);

const LISTS = ['curve25519-sha256,ext-info-c', 'ssh-ed25519', '3des-cbc', 'aes128-ctr', 'hmac-md5', 'hmac-sha1', 'none', 'zlib', '', ''];

describe('client offer', () => {
  test('reads the name-lists of a KEXINIT and picks the one a failure is about', () => {
    const offer = parseKexinit(kexinit(LISTS));
    assert.deepEqual(offer, {
      kex: 'curve25519-sha256,ext-info-c', hostKey: 'ssh-ed25519', cipherCS: '3des-cbc', cipherSC: 'aes128-ctr',
      macCS: 'hmac-md5', macSC: 'hmac-sha1', compressCS: 'none', compressSC: 'zlib',
    });
    assert.equal(offerFor('Handshake failed: no matching C->S cipher', offer), '3des-cbc');
    assert.equal(offerFor('Handshake failed: no matching S->C cipher', offer), 'aes128-ctr');
    assert.equal(offerFor('Handshake failed: no matching C->S MAC', offer), 'hmac-md5');
    assert.equal(offerFor('Handshake failed: no matching key exchange algorithm', offer), 'curve25519-sha256,ext-info-c');
    assert.equal(offerFor('Handshake failed: no matching host key format', offer), 'ssh-ed25519');
    assert.equal(offerFor('Handshake failed: no matching S->C compression', offer), 'zlib');
    assert.equal(offerFor('Received malformed KEXINIT', offer), undefined);
    assert.equal(offerFor('Handshake failed: no matching C->S cipher', undefined), undefined);
  });

  test('other packets, truncated lists and lengths past the end give no offer', () => {
    assert.equal(parseKexinit(Buffer.from([2, 0, 0, 0, 0])), undefined); // SSH_MSG_IGNORE
    const whole = kexinit(LISTS);
    for (const cut of [1, 17, 20, 40, whole.length - 16]) assert.equal(parseKexinit(whole.subarray(0, cut)), undefined, `cut at ${cut}`);
    const lying = kexinit(LISTS);
    lying.writeUInt32BE(0xffffffff, 17); // the kex list claims 4 GB
    assert.equal(parseKexinit(lying), undefined);
  });

  test('a huge list is cut to 400 characters', () => {
    const offer = parseKexinit(kexinit(['a,'.repeat(100_000), ...LISTS.slice(1)]));
    assert.equal(offer?.kex.length, 400);
    assert.equal(offer?.hostKey, 'ssh-ed25519');
  });
});
