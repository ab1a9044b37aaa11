"""IAM gateway half: every operation runs on the shard owning the account's
IAM partition (IAM is global: one per account, whatever the region)."""

from __future__ import annotations

from services.iam.ids import iam_key


def caller_of(ctx) -> dict:
    """Who is calling, as IAM operations that default to "the calling user" need it."""
    arn = ctx.principal_arn
    if ":user/" in arn:
        return {"kind": "user", "name": arn.rsplit("/", 1)[-1]}
    return {"kind": "root" if arn.endswith(":root") else "other"}


class IamApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        return await ctx.cluster.call(iam_key(ctx.account_id), "iam.Handle", {
            "a": ctx.account_id, "op": operation, "params": params, "caller": caller_of(ctx)})
