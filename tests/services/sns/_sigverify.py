"""An SNS message signature check written from AWS's documentation
("Verifying the signatures of Amazon SNS messages"), independent of the
server's code: fetch the certificate at SigningCertURL, rebuild the string to
sign from the message's own fields, verify the base64 signature with the
certificate's public key (SHA1withRSA for SignatureVersion 1, SHA256withRSA
for 2)."""

from __future__ import annotations

import base64
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def canonical(message: dict) -> bytes:
    fields = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{k}\n{message[k]}\n" for k in fields if k in message).encode()


def fetch_certificate(url: str) -> x509.Certificate:
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        return x509.load_pem_x509_certificate(r.read())


def verify(message: dict, version_key: str = "SignatureVersion", cert_key: str = "SigningCertURL") -> None:
    """Raises cryptography.exceptions.InvalidSignature when the signature does not verify."""
    cert = fetch_certificate(message[cert_key])
    algorithm = hashes.SHA256() if message[version_key] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(message["Signature"]), canonical(message), padding.PKCS1v15(),
                             algorithm)
