"""KMS gateway half: every operation runs on the shard owning the namespace's
KMS partition (all keys and aliases of one account+region live together, so
alias resolution and ListKeys are local and atomic)."""

from __future__ import annotations


def kms_key(account: str, region: str) -> str:
    return f"kms/{account}/{region}"


class KmsApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        return await ctx.cluster.call(kms_key(ctx.account_id, ctx.region), "kms.Handle", {
            "a": ctx.account_id, "r": ctx.region, "op": operation, "params": params,
            "principal": ctx.principal_arn})
