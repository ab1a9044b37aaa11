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


# -- data keys with generations -------------------------------------------------
#
# AES-GCM with random 96-bit nonces must not seal more than 2**32 messages
# under one key (NIST SP 800-38D). A data key is therefore a ring of
# generations: sealing uses the newest, which is replaced after ROTATE_COUNT
# seals or ROTATE_AGE_S seconds; every older generation stays to open what it
# sealed. Generational blobs are ``0x02 | gen(4) | nonce(12) | ct+tag``;
# version-1 blobs (``0x01 | nonce | ct``) belong to generation 0.

_VERSION2 = b"\x02"
ROTATE_COUNT = 2 ** 31          # well under the 2**32 random-nonce bound
ROTATE_AGE_S = 30 * 86400
RESERVE = 2 ** 20               # seals reserved (persisted) at a time, so restarts never reuse budget


class KeyRing:
    """Seal with the current generation, open with any. ``store`` persists
    generations: ``new(gen) -> (raw key, created)`` makes and records one;
    ``reserve(gen, upto)`` records that seals up to ``upto`` may have happened."""

    __slots__ = ("keys", "gen", "count", "reserved", "created", "_store", "_now")

    def __init__(self, generations: dict[int, tuple[bytes, float, int]], store, now=None):
        import time as _time
        self._store = store
        self._now = now or _time.time
        self.keys: dict[int, AESGCM] = {g: AESGCM(raw) for g, (raw, _c, _r) in generations.items()}
        self.gen = max(generations) if generations else -1
        if self.gen >= 1:
            _raw, self.created, reserved = generations[self.gen]
            # after a restart, assume every reserved seal was used
            self.count = self.reserved = reserved
        else:
            self.count = self.reserved = 0
            self.created = 0.0
        if self.gen < 1 or self._due():
            self._rotate()

    def _due(self) -> bool:
        return self.count >= ROTATE_COUNT or self._now() - self.created >= ROTATE_AGE_S

    def _rotate(self) -> None:
        gen = max(self.gen + 1, 1)
        raw, created = self._store.new(gen)
        self.keys[gen] = AESGCM(raw)
        self.gen, self.created, self.count, self.reserved = gen, created, 0, 0

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        if self.count >= self.reserved:
            if self._due():
                self._rotate()
            self.reserved = min(self.count + RESERVE, ROTATE_COUNT)
            self._store.reserve(self.gen, self.reserved)
        self.count += 1
        nonce = os.urandom(NONCE_BYTES)
        return (_VERSION2 + self.gen.to_bytes(4, "big") + nonce
                + self.keys[self.gen].encrypt(nonce, plaintext, aad or None))

    def open(self, blob: bytes, aad: bytes = b"") -> bytes:
        v = blob[:1]
        if v == _VERSION2 and len(blob) >= 5 + NONCE_BYTES + 16:
            gen = int.from_bytes(blob[1:5], "big")
            body = blob[5:]
        elif v == _VERSION and len(blob) >= 1 + NONCE_BYTES + 16:
            gen, body = 0, blob[1:]
        else:
            raise DecryptError("malformed sealed blob")
        aead = self.keys.get(gen)
        if aead is None:
            raise DecryptError(f"no data key generation {gen}")
        try:
            return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad or None)
        except InvalidTag:
            raise DecryptError("sealed blob failed authentication") from None
