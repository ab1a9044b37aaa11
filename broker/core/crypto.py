"""Encryption at rest: AES-256-GCM key wrapping and payload sealing.

Key hierarchy (ARCHITECTURE.md, "Store, durability, encryption at rest"):

    master key  --wraps-->  KMS key material  --wraps-->  data keys  --seal-->  payloads

Every layer uses the same primitive, `AesGcmKey`: a 32-byte key that seals
bytes as ``version(1) | nonce(12) | ciphertext+tag``. Additional
authenticated data (AAD) binds a sealed blob to where it belongs (entity id,
partition), so a blob copied to another row fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptError(Exception):
    """A sealed blob failed authentication (wrong key, wrong AAD, or tampered)."""


class AesGcmKey:
    """A 256-bit key that seals and opens blobs. Also usable as a key wrapper."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes, key_id: str = ""):
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = key_id

    @classmethod
    def generate(cls, key_id: str = "") -> tuple["AesGcmKey", bytes]:
        raw = AESGCM.generate_key(bit_length=256)
        return cls(raw, key_id), raw

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad or None)

    def open(self, blob: bytes, aad: bytes = b"") -> bytes:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise DecryptError("malformed sealed blob")
        try:
            return self._aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], aad or None)
        except InvalidTag:
            raise DecryptError("sealed blob failed authentication") from None

    # Key-wrapper vocabulary: the same operation, named for its use.
    wrap = seal
    unwrap = open
