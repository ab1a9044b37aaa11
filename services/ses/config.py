"""SES's config keys (the SMTP listeners' ports are the front-end's)."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("ses", "verification", str, "auto",
        "How identities get verified: auto (at once), click (pending until the link in the "
        "verification mail in the mailbox, or POST /_broker/ses/verify, is used), none (any sender, "
        "no identity needed).", ("auto", "click", "none")),
    Key("ses", "sandbox", bool, False,
        "Sandbox account: recipients must be verified identities too; quota 200/day, 1/s."),
    Key("ses", "daily_quota", int, 0,
        "Daily sending quota (recipients per 24 h), enforced; 0: AWS's default (200 in the sandbox, "
        "50000 out of it)."),
    Key("ses", "max_send_rate", float, 0.0,
        "Reported maximum send rate per second (not enforced); 0: AWS's default (1 in the sandbox, 14)."),
    Key("ses", "mailbox_max_messages", int, 10000,
        "Mails kept in the mailbox per account and region; the oldest are dropped beyond it."),
    Key("ses", "relay_url", str, "",
        "Relay captured mail to an upstream SMTP server: smtp://[user:pass@]host:port, "
        "smtp+starttls://... or smtps://... (empty: off). Only to relay_allowlist recipients."),
    Key("ses", "relay_allowlist", list, [],
        "Recipients relayed upstream: addresses, or domains as @example.com."),
)


def settings(config) -> dict:
    """The SES keys of a loaded config (gateway or shard) with AWS's defaults resolved."""
    get = config.get
    sandbox = bool(get("ses.sandbox", False))
    return {
        "verification": get("ses.verification", "auto"),
        "sandbox": sandbox,
        "max_24h": int(get("ses.daily_quota", 0) or (200 if sandbox else 50000)),
        "max_rate": float(get("ses.max_send_rate", 0.0) or (1.0 if sandbox else 14.0)),
        "mailbox_max": int(get("ses.mailbox_max_messages", 10000)),
        "relay_url": get("ses.relay_url", ""),
        "relay_allowlist": [str(a).lower() for a in get("ses.relay_allowlist", []) or []],
        "default_account": get("aws.default_account", "000000000000"),
        "default_region": get("aws.default_region", "us-east-1"),
    }
