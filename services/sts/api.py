"""STS: GetCallerIdentity (who the SigV4 principal is)."""

from __future__ import annotations

from services.errors import NotImplementedOperation


class StsApi:
    def __init__(self, gateway):
        self.gateway = gateway

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        if operation == "GetCallerIdentity":
            user_id = ctx.access_key if ctx.user_name == "root" else ctx.access_key
            if ctx.principal_arn.endswith(":root"):
                user_id = ctx.account_id
            return {"UserId": user_id, "Account": ctx.account_id, "Arn": ctx.principal_arn}
        raise NotImplementedOperation(f"STS {operation} is not implemented by this broker yet.")
