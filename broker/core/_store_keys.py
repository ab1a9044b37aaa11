"""A partition's keys: its KMS key (wrapped by the master key) and the data keys of
each scope (a queue id, or entities), wrapped by it, in generations (`KeyRing`)."""

from __future__ import annotations

import hashlib
import os

from broker.core import _store_ops as _ops
from broker.core.crypto import AesGcmKey, KeyRing

ENTITY_SCOPE = 0         # data-key scope of entity records


class _Keys:
    """Partition KMS key (wrapped by master) and per-scope data keys (wrapped by it).

    A scope's data key is a `KeyRing` of generations (rotated by seal count and
    age; older generations stay to open what they sealed) persisted in
    ``datakeys2``; ``datakeys`` holds the generation-0 keys of older stores."""

    def __init__(self, master: AesGcmKey, partition: int, load_meta, save_meta, db):
        self._cache: dict[int, KeyRing] = {}
        self._db = db
        self.keyops: list = []        # key rows written since the last commit, for the redo log
        aad = b"partition-kms-key:%d" % partition
        wrapped = load_meta("kms_key")
        if wrapped is None:
            material = os.urandom(32)
            save_meta("kms_key", master.wrap(material, aad))
        else:
            material = master.unwrap(wrapped, aad)
        self.kms = AesGcmKey(material, f"partition-{partition}")
        # keyed hash for lookup keys that must not be stored in clear (dedup ids)
        self.hash_key = hashlib.blake2b(material, digest_size=32, person=b"broker-dedup").digest()

    def lookup_key(self, scope: int, key: str) -> str:
        return hashlib.blake2b(key.encode(), digest_size=20, key=self.hash_key,
                               salt=scope.to_bytes(8, "big")[:16]).hexdigest()

    def data_key(self, scope: int) -> KeyRing:
        ring = self._cache.get(scope)
        if ring is None:
            db, kms = self._db, self.kms
            gens: dict[int, tuple[bytes, float, int]] = {}
            row = db.execute("SELECT wrapped FROM datakeys WHERE scope=?", (scope,)).fetchone()
            if row is not None:
                gens[0] = (kms.unwrap(row[0], b"data-key:%d" % scope), 0.0, 0)
            for gen, wrapped, created, reserved in db.execute(
                    "SELECT gen, wrapped, created, reserved FROM datakeys2 WHERE scope=?", (scope,)):
                gens[gen] = (kms.unwrap(wrapped, b"data-key:%d:%d" % (scope, gen)), created, reserved)
            ring = self._cache[scope] = KeyRing(gens, _RingStore(db, kms, scope, self.keyops))
        return ring

    def forget(self, scope: int) -> None:
        """Nothing sealed under the scope's keys is left: a DROP op deletes their rows."""
        self._cache.pop(scope, None)


class _RingStore:
    """Persists one scope's key generations (rows join the open transaction, if any, and
    are logged with the next commit: a replayed row sealed under a new key needs it)."""
    __slots__ = ("db", "kms", "scope", "keyops")

    def __init__(self, db, kms: AesGcmKey, scope: int, keyops: list):
        self.db, self.kms, self.scope, self.keyops = db, kms, scope, keyops

    def new(self, gen: int) -> tuple[bytes, float]:
        import time as _time
        raw, created = os.urandom(32), _time.time()
        row = (self.scope, gen, self.kms.wrap(raw, b"data-key:%d:%d" % (self.scope, gen)), created, 0)
        self.db.execute(_ops.KEY_SQL[0], row)
        self.keyops.append((0, row))
        return raw, created

    def reserve(self, gen: int, upto: int) -> None:
        row = (upto, self.scope, gen)
        self.db.execute(_ops.KEY_SQL[1], row)
        self.keyops.append((1, row))
