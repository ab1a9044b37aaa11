"""SES's side of the SMTP interface: credentials, submission, inbound mail,
and the reply texts SES's SMTP endpoints use.

The wire (aiosmtpd, STARTTLS, AUTH mechanics) is protocols/smtp; it calls
this object for every decision that is SES's: who a username/password is,
whether a message is accepted and under which MessageId, how an error reads
as an SMTP reply.

SMTP credentials are SES's: the username is an access key id, the password
is derived from its secret key with AWS's version-4 algorithm (HMAC-SHA256
chain over "11111111", the region, "ses", "aws4_request", "SendRawEmail";
version byte 0x04; base64). The region whose password matches is the
region the session sends in. With no aws.credentials configured (dev mode)
any credentials, or none, are accepted for the default account and region.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from services.errors import ServiceError
from services.ses import compose
from services.ses.config import settings
from services.ses.state import ns_key

SMTP_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-south-1", "ap-south-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-5", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-south-1", "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "sa-east-1",
    "us-gov-east-1", "us-gov-west-1",
)
MAX_MESSAGE_BYTES = compose.V2_MAX_BYTES
OK_AUTH = "235 Authentication successful."
BAD_AUTH = "535 Authentication Credentials Invalid"
AUTH_REQUIRED = "530 Authentication required"


def smtp_password(secret_key: str, region: str) -> str:
    """AWS's version-4 SES SMTP password for `secret_key` in `region`."""
    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    sig = sign(("AWS4" + secret_key).encode(), "11111111")
    for part in (region, "ses", "aws4_request", "SendRawEmail"):
        sig = sign(sig, part)
    return base64.b64encode(b"\x04" + sig).decode()


@dataclass(frozen=True)
class SmtpIdentity:
    account: str
    region: str
    access_key: str
    user_name: str

    @property
    def principal_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:{'root' if self.user_name == 'root' else 'user/' + self.user_name}"


class _Ctx:
    """What compose.* reads of a request context."""
    __slots__ = ("account_id", "region", "principal_arn", "source_ip")

    def __init__(self, ident: SmtpIdentity, ip: str | None):
        self.account_id, self.region, self.principal_arn, self.source_ip = (ident.account, ident.region,
                                                                            ident.principal_arn, ip)


def reply_for(exc: Exception) -> str:
    """SES's SMTP reply for an error of the sending path."""
    code = getattr(exc, "code", "")
    msg = getattr(exc, "message", "") or str(exc)
    if code == "MessageRejected":
        return f"554 Message rejected: {msg}"
    if code == "Throttling":
        return f"454 Throttling failure: {msg}"
    if code in ("AccountSendingPausedException", "ConfigurationSetSendingPausedException"):
        return f"554 Access denied: {msg}"
    if code and getattr(exc, "status", 500) < 500 or code in (
            "InvalidParameterValue", "ConfigurationSetDoesNotExist", "TemplateDoesNotExist"):
        return f"554 Transaction failed: {msg}"
    return "451 Temporary service failure"


class SesSmtp:
    """One per gateway: the SES decisions behind the SMTP listeners."""

    def __init__(self, gateway):
        self.gateway = gateway
        cfg = gateway.config
        self.cfg = settings(cfg)
        self.credentials = {c["access_key"]: c for c in cfg.get("aws.credentials", []) or []}
        self.dev = not self.credentials
        self._cache: dict[tuple[str, str], str | None] = {}

    @property
    def default_identity(self) -> SmtpIdentity:
        return SmtpIdentity(self.cfg["default_account"], self.cfg["default_region"], "", "root")

    @property
    def auth_required(self) -> bool:
        return not self.dev

    def authenticate(self, username: str, password: str) -> SmtpIdentity | None:
        """The identity of SES SMTP credentials, or None (in-memory lookup: aiosmtpd calls it synchronously)."""
        if self.dev:
            account = username if username.isdigit() and len(username) == 12 else self.cfg["default_account"]
            return SmtpIdentity(account, self.cfg["default_region"], username, "root")
        cred = self.credentials.get(username)
        if cred is None:
            return None
        key = (username, password)
        if key not in self._cache:
            region = None
            for r in SMTP_REGIONS:
                if hmac.compare_digest(smtp_password(cred["secret_key"], r), password):
                    region = r
                    break
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[key] = region
        region = self._cache[key]
        if region is None:
            return None
        return SmtpIdentity(str(cred.get("account_id", self.cfg["default_account"])), region, username,
                            cred.get("user_name", "root"))

    async def submit(self, ident: SmtpIdentity | None, mail_from: str, rcpts: list[str], data: bytes,
                     tls: bool, ip: str | None) -> str:
        """Accept one message; its SES MessageId once it is durable (raises ServiceError)."""
        ident = ident or self.default_identity
        args = compose.raw(_Ctx(ident, ip), "SendSmtpEmail", "smtp", data, source=mail_from or None,
                           destinations=rcpts, limit=MAX_MESSAGE_BYTES)
        args["mailbox_op"] = "SMTP"
        args["tls"] = tls
        out = await self.gateway.cluster.call(ns_key(ident.account, ident.region), "ses.Send", args)
        return out["MessageId"]

    # -- inbound (receipt rules) ----------------------------------------------------------
    def _inbound_ns(self) -> tuple[str, str]:
        return self.cfg["default_account"], self.cfg["default_region"]

    async def inbound_check(self, rcpt: str, tls: bool, ip: str | None) -> str | None:
        account, region = self._inbound_ns()
        out = await self.gateway.cluster.call(ns_key(account, region), "ses.InboundCheck",
                                              {"a": account, "r": region, "rcpt": rcpt, "tls": tls, "ip": ip})
        return out["reply"]

    async def receive(self, mail_from: str, rcpts: list[str], data: bytes, tls: bool, ip: str | None) -> str:
        account, region = self._inbound_ns()
        if len(data) > MAX_MESSAGE_BYTES:
            raise ServiceError("Message too large", code="MessageRejected")
        out = await self.gateway.cluster.call(ns_key(account, region), "ses.Receive",
                                              {"a": account, "r": region, "mail_from": mail_from, "rcpts": rcpts,
                                               "raw": data, "tls": tls, "ip": ip})
        return out["MessageId"]
