"""Key material: versions wrapped by the master key, unwrapped lazily and cached."""

from __future__ import annotations

import os

from broker.core.crypto import DecryptError

from . import crypto as kc
from .model import _Key
from .validation import _err


class MaterialMixin:
    """Key material versions of `KmsBackend`."""

    def _wrap_aad(self, arn: str, version_id: str) -> bytes:
        return f"{arn}#{version_id}".encode()

    def _add_version(self, key: _Key, rotation_type: str | None, when: float, material: bytes | None = None,
                     vid: str | None = None, **extra) -> dict:
        if material is None:
            material = kc.generate_material(key.spec)
        vid = vid or os.urandom(kc.VERSION_ID_BYTES).hex()
        version = {"id": vid, "created": when, "rotation_type": rotation_type,
                   "wrapped": self._master.wrap(material, aad=self._wrap_aad(key.arn, vid)), **extra}
        key.versions.append(version)
        self._material[(key.arn, vid)] = (material if not key.asymmetric
                                          else kc.load_private(material))
        return version

    def _plain_material(self, key: _Key, version: dict) -> bytes:
        """The raw material of a version (to re-wrap it for a multi-Region replica)."""
        return self._master.unwrap(version["wrapped"], aad=self._wrap_aad(key.arn, version["id"]))

    def _version_material(self, key: _Key, version: dict):
        cached = self._material.get((key.arn, version["id"]))
        if cached is None:
            if version.get("wrapped") is None:      # imported material that was deleted or expired
                raise _err("InvalidCiphertextException")
            try:
                raw = self._master.unwrap(version["wrapped"],
                                          aad=self._wrap_aad(key.arn, version["id"]))
            except DecryptError:
                raise _err("KMSInternalException",
                           "The key material could not be unwrapped.", 500) from None
            cached = kc.load_private(raw) if key.asymmetric else raw
            self._material[(key.arn, version["id"])] = cached
        return cached

    def _encrypt_symmetric(self, key: _Key, plaintext: bytes, context: dict | None) -> bytes:
        v = key.current
        return kc.seal_symmetric(self._version_material(key, v), key.key_id,
                                 bytes.fromhex(v["id"]), plaintext, context)
