"""Process wiring for SNS: every shard makes sure the data directory's
signing key exists at start (the first creates it), so the certificate is
served before the first signed message points to it."""

from __future__ import annotations

from services.sns.signing import signer_for


def install(host) -> None:
    master = getattr(host, "master", None)
    if master is not None:          # shards hold the master key; gateways only serve the certificate
        signer_for(host.run.data_dir, master)
