"""SNS ARNs, the entity keys they map to, and confirmation tokens.

Everything about a topic (its subscriptions, deduplication window, pending
fan-out) lives in the partition of its key, so a subscription ARN
(``<topic arn>:<uuid>``) leads straight to its owner. A platform endpoint
lives with its application; per-account SMS settings under their own key.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from services.sns.errors import invalid

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_HEX = re.compile(r"^[0-9a-f]+$")


class TopicRef(NamedTuple):
    region: str
    account: str
    name: str
    arn: str
    key: str


class SubRef(NamedTuple):
    topic: TopicRef
    sub_id: str
    arn: str


def topic_key(region: str, account: str, name: str) -> str:
    return f"sns/{region}/{account}/{name}"


def topic_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def account_key(region: str, account: str) -> str:
    """Per-account SMS settings, opt-outs and sandbox numbers."""
    return f"sns-acct/{region}/{account}"


def app_key(region: str, account: str, name: str) -> str:
    return f"sns-app/{region}/{account}/{name}"


def _parts(value, param: str) -> list[str]:
    parts = (value or "").split(":")
    if len(parts) < 6:
        raise invalid(f"{param} Reason: An ARN must have at least 6 elements, not {len(parts)}")
    return parts


def valid_topic_name(name: str, fifo: bool) -> bool:
    if fifo:
        return name.endswith(".fifo") and bool(_TOPIC_NAME.match(name[:-5])) and len(name) <= 256
    return bool(_TOPIC_NAME.match(name))


def parse_topic(value, region: str | None, param: str = "TopicArn") -> TopicRef:
    """A topic ARN the caller may address: same region as the request."""
    parts = _parts(value, param)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[5]:
        raise invalid(param)
    if region is not None and parts[3] != region:
        raise invalid(param)
    r, a, n = parts[3], parts[4], parts[5]
    return TopicRef(r, a, n, value, topic_key(r, a, n))


def parse_subscription(value, region: str | None) -> SubRef:
    parts = _parts(value, "SubscriptionArn")
    if len(parts) == 6:
        raise invalid("SubscriptionId")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "sns" or not parts[6]:
        raise invalid("SubscriptionArn")
    if region is not None and parts[3] != region:
        raise invalid("SubscriptionArn")
    r, a, n = parts[3], parts[4], parts[5]
    t_arn = ":".join(parts[:6])
    return SubRef(TopicRef(r, a, n, t_arn, topic_key(r, a, n)), parts[6], value)


def parse_application(value, param: str = "PlatformApplicationArn") -> tuple[str, str, str, str, str]:
    """(region, account, platform, name, key) of a platform application ARN."""
    parts = _parts(value, param)
    rel = ":".join(parts[5:]).split("/")
    if parts[2] != "sns" or len(rel) != 3 or rel[0] != "app":
        raise invalid(f"{param} Reason: Wrong number of slashes in relative portion of the ARN.")
    r, a = parts[3], parts[4]
    return r, a, rel[1], rel[2], app_key(r, a, rel[2])


def parse_endpoint(value, param: str = "EndpointArn") -> tuple[str, str, str, str]:
    """(app key, endpoint id, region, account) of a platform endpoint ARN."""
    parts = _parts(value, param)
    rel = ":".join(parts[5:]).split("/")
    if parts[2] != "sns" or len(rel) != 4 or rel[0] != "endpoint":
        raise invalid(f"{param} Reason: Wrong number of slashes in relative portion of the ARN.")
    r, a = parts[3], parts[4]
    return app_key(r, a, rel[2]), rel[3], r, a


def sqs_arn_parts(value) -> tuple[str, str, str] | None:
    """(region, account, queue name) of an SQS queue ARN, or None."""
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5] or not parts[4]:
        return None
    return parts[3], parts[4], parts[5]


# -- confirmation tokens ------------------------------------------------------------
#
# Like AWS's, a token is hex and starts with its region ("us-east-1/" in hex);
# ours then names the partition holding the subscription, so ConfirmSubscription
# finds it from the token alone (AWS confirms even when the TopicArn names
# another topic of the same region).

def make_token(region: str, partition: int) -> str:
    return (region + "/").encode().hex() + f"{partition:04x}" + os.urandom(64).hex()


def parse_token(token: str) -> tuple[str, int] | None:
    """(region, partition), or None when the token is not one of ours."""
    head = bytes.fromhex(token[:64 - (len(token[:64]) % 2)]) if token else b""
    slash = head.find(b"/")
    if slash <= 0:
        return None
    start = 2 * (slash + 1)
    try:
        return head[:slash].decode(), int(token[start:start + 4], 16)
    except (UnicodeDecodeError, ValueError):
        return None


def token_shape_ok(token: str) -> bool:
    return bool(token) and bool(_TOKEN_HEX.match(token))
