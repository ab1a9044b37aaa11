"""Process hook: with credentials configured, every gateway and shard gets the
IAM authorizer (gateways: the AWS app's authorization step; both: service-to-
service calls). Dev mode (no credentials) installs nothing: everything open."""

from __future__ import annotations


def install(host) -> None:
    config = host.run.config
    if not (config.get("aws.credentials") or []) or not config.get("iam.enforce", True):
        return
    from services.iam.authorizer import Authorizer
    app = getattr(host, "http_app", None)
    authorizer = Authorizer(host, verifier=app.verifier if app is not None else None)
    host.iam_authorizer = authorizer
    if app is not None:
        app.authorizer = authorizer
