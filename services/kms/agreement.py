"""Key agreement (KEY_AGREEMENT keys): DeriveSharedSecret with ECDH."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .validation import _blob, _enum_error, _err, _required


class AgreementMixin:
    """DeriveSharedSecret of `KmsBackend`."""

    def _op_derive_shared_secret(self, ns, account, region, p):
        key = self._usable(ns, account, region, _required(p, "KeyId"), "DeriveSharedSecret")
        algorithm = _required(p, "KeyAgreementAlgorithm")
        if algorithm != "ECDH":
            raise _enum_error(algorithm, "KeyAgreementAlgorithm", ["ECDH"])
        public = _blob(p, "PublicKey", 1, 8192)
        if p.get("Recipient"):
            raise _err("UnsupportedOperationException", "Recipient (Nitro Enclaves attestation) is not supported.")
        self._require_usage(key, "KEY_AGREEMENT", "DeriveSharedSecret")
        private = self._version_material(key, key.current)
        try:
            peer = serialization.load_der_public_key(public)
        except (ValueError, TypeError):
            peer = None
        if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != private.curve.name:
            raise _err("ValidationException")       # AWS says nothing more
        return {"KeyId": key.arn, "SharedSecret": private.exchange(ec.ECDH(), peer),
                "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": key.origin}
