"""Process wiring for SNS: every shard makes sure the data directory's
signing key exists at start (the first creates it), so the certificate is
served before the first signed message points to it. The key itself is
loaded by the first signature (an RSA key load is about 50 ms of a shard's
start, and memory an idle server need not hold)."""

from __future__ import annotations

from services.sns.signing import ensure_bundle


def install(host) -> None:
    master = getattr(host, "master", None)
    if master is not None:          # shards hold the master key; gateways only serve the certificate
        ensure_bundle(host.run.data_dir, master)
