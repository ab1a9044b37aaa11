"""Shard-side state of topics and subscriptions, and their store records.

A Topic is an exchange (`broker.core.exchange.Exchange`, matcher
``sns-filter``) whose bindings are its confirmed subscriptions: binding key
None (no filter policy) or (scope, policy text), destination the
subscription id.
"""

from __future__ import annotations

import datetime

from broker.core.exchange import Exchange
from services.sns import matcher as _matcher  # noqa: F401  (registers the sns-filter matcher)

KIND_TOPIC = "sns.topic"
KIND_SUB = "sns.sub"
TOKENS_KEPT = 5


def iso_now(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sub_store_key(topic_key: str, sub_id: str) -> str:
    return f"{topic_key}\x00{sub_id}"


class Sub:
    __slots__ = ("id", "arn", "topic_key", "topic_arn", "protocol", "endpoint", "owner", "principal", "attrs",
                 "pending", "authenticated", "tokens", "created", "seq")

    def __init__(self, sid: str, topic, protocol: str, endpoint: str, owner: str, principal: str, attrs: dict,
                 pending: bool, authenticated: bool, created: int, seq: int, tokens: list | None = None):
        self.id = sid
        self.arn = f"{topic.arn}:{sid}"
        self.topic_key, self.topic_arn = topic.key, topic.arn
        self.protocol, self.endpoint = protocol, endpoint
        self.owner, self.principal = owner, principal
        self.attrs = attrs
        self.pending, self.authenticated = pending, authenticated
        self.created = created
        self.seq = seq              # creation order within the partition (listings)
        self.tokens = tokens or []

    def record(self) -> dict:
        return {"id": self.id, "p": self.protocol, "e": self.endpoint, "o": self.owner, "pr": self.principal,
                "a": self.attrs, "pend": self.pending, "auth": self.authenticated, "c": self.created,
                "tok": self.tokens}

    @classmethod
    def from_record(cls, topic, r: dict) -> "Sub":
        return cls(r["id"], topic, r["p"], r["e"], r["o"], r["pr"], r["a"], r["pend"], r["auth"], r["c"],
                   r.get("n", 0), r.get("tok"))

    def binding_key(self):
        policy = self.attrs.get("FilterPolicy")
        if not policy:
            return None
        return (self.attrs.get("FilterPolicyScope", "MessageAttributes"), policy)

    @property
    def raw(self) -> bool:
        return self.attrs.get("RawMessageDelivery") == "true"

    def summary(self) -> dict:
        return {"SubscriptionArn": "PendingConfirmation" if self.pending else self.arn, "Owner": self.owner,
                "Protocol": self.protocol, "Endpoint": self.endpoint, "TopicArn": self.topic_arn}


class Topic:
    __slots__ = ("key", "name", "account", "region", "arn", "fifo", "attrs", "tags", "dpp", "created", "deleted",
                 "subs", "by_endpoint", "exchange")

    def __init__(self, key: str, name: str, account: str, region: str, attrs: dict, tags: dict, created: int,
                 dpp: str = "", deleted: int = 0):
        self.key, self.name, self.account, self.region = key, name, account, region
        self.arn = f"arn:aws:sns:{region}:{account}:{name}"
        self.fifo = name.endswith(".fifo")
        self.attrs, self.tags, self.dpp = attrs, tags, dpp
        self.created, self.deleted = created, deleted
        self.subs: dict[str, Sub] = {}
        self.by_endpoint: dict[tuple[str, str], str] = {}
        self.exchange = Exchange(key, "sns-filter")

    def record(self) -> dict:
        return {"n": self.name, "acct": self.account, "r": self.region, "a": self.attrs, "tags": self.tags,
                "dpp": self.dpp, "c": self.created, "del": self.deleted}

    @classmethod
    def from_record(cls, key: str, r: dict) -> "Topic":
        return cls(key, r["n"], r["acct"], r["r"], r["a"], r["tags"], r["c"], r.get("dpp", ""), r.get("del", 0))

    # -- subscriptions ---------------------------------------------------------------
    def attach(self, s: Sub) -> None:
        self.subs[s.id] = s
        self.by_endpoint[(s.protocol, s.endpoint)] = s.id
        if not s.pending:
            self.exchange.bind(s.binding_key(), s.id)

    def detach(self, s: Sub) -> None:
        self.subs.pop(s.id, None)
        self.by_endpoint.pop((s.protocol, s.endpoint), None)
        if not s.pending:
            self.exchange.unbind(s.binding_key(), s.id)

    def rebind(self, s: Sub, old_key) -> None:
        """After a change of filter policy, scope or confirmation state."""
        self.exchange.unbind(old_key, s.id)
        if not s.pending:
            self.exchange.bind(s.binding_key(), s.id)

    @property
    def confirmed(self) -> int:
        return len(self.exchange)

    @property
    def pending(self) -> int:
        return len(self.subs) - len(self.exchange)

    def max_message_size(self) -> int:
        return int(self.attrs.get("MaximumMessageSize", 262_144))

    def dedup_scope_group(self) -> bool:
        return self.attrs.get("FifoThroughputScope") == "MessageGroup"

    def content_dedup(self) -> bool:
        return self.attrs.get("ContentBasedDeduplication") == "true"
