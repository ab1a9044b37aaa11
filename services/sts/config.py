"""STS configuration keys (README table and deploy/broker.toml list them)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("sts", "web_identity_tokens", str, "jwt",
        "Tokens AssumeRoleWithWebIdentity accepts: jwt (a well-formed, unexpired JWT; its iss, sub and aud "
        "are matched against the role's trust policy; the signature is not checked, there is no network to "
        "fetch the issuer's keys), any (any token; provider from ProviderId), off (none: InvalidIdentityToken).",
        choices=("jwt", "any", "off")),
)
