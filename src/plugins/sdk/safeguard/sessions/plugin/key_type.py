# Copyright Gatehouse contributors. Licensed under the Apache License, Version 2.0.
"""The SSH key type of a PEM private key ("ssh-rsa", "ssh-ed25519", ...), or None when it cannot be told."""
import base64
import struct

_PEM_TYPES = {"RSA PRIVATE KEY": "ssh-rsa", "DSA PRIVATE KEY": "ssh-dss"}
_CURVES = {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384", "secp521r1": "ecdsa-sha2-nistp521"}


def determine_key_type(key):
    if not isinstance(key, str):
        return None
    text = key.strip()
    for label, kind in _PEM_TYPES.items():
        if text.startswith("-----BEGIN %s-----" % label):
            return kind
    if text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
        return _openssh_type(text)
    if text.startswith("-----BEGIN EC PRIVATE KEY-----") or text.startswith("-----BEGIN PRIVATE KEY-----"):
        return _pkcs_type(text)
    return None


def _openssh_type(text):
    # openssh-key-v1: magic, cipher, kdf, kdf options, key count, then the first public key blob, whose first
    # string names the key type. The public part is never encrypted, so this works for protected keys too.
    try:
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        data = base64.b64decode(body)
        magic = b"openssh-key-v1\0"
        if not data.startswith(magic):
            return None
        pos = len(magic)
        for _ in range(3):
            (length,) = struct.unpack(">I", data[pos:pos + 4])
            pos += 4 + length
        pos += 4  # number of keys
        pos += 4  # length of the public key blob
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        return data[pos + 4:pos + 4 + length].decode("ascii") or None
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


def _pkcs_type(text):
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
    except ImportError:
        return None
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return "ssh-rsa"
    if isinstance(key, dsa.DSAPrivateKey):
        return "ssh-dss"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ssh-ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVES.get(key.curve.name)
    return None
