"""Mail other services send through SES's mailbox (SNS email subscriptions).

At AWS, an SNS `email` / `email-json` subscription receives real mail from
``no-reply@sns.amazonaws.com``. Here it lands in the same durable, encrypted
mailbox as SES sends, so a test can read (or wait for) a notification or the
subscription-confirmation link exactly as it reads any other mail.
"""

from __future__ import annotations

from services.ses.state import ns_key


async def deliver_text_mail(call, account: str, region: str, sender: str, to: str, subject: str,
                            text: str) -> str:
    """Store one plain-text mail for `to`; `call(key, op, args)` reaches the SES
    shard (a cluster's or partition's `call`). Returns the mailbox message id."""
    out = await call(ns_key(account, region), "ses.StoreMail",
                     {"a": account, "r": region, "from": sender, "to": to, "subject": subject, "text": text})
    return out["MessageId"]
