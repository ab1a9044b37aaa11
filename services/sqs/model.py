"""An SQS queue as the shard holds it: attributes, tags and a core Queue.

Message payloads are opaque bytes built by the gateway half
(`encode_payload`); the shard stores them (encrypted at rest by the store)
and hands them back on receive.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections import deque

import msgspec

from broker.core.message import GROUP_HEAD, QueueConfig
from broker.core.queue import Queue
from services.sqs.limits import DEDUP_WINDOW_MS, DEFAULT_ATTRIBUTES, FIFO_DEFAULTS

KIND_QUEUE = "sqs.queue"       # store kind of queue records

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode

# payload fields (a msgpack array)
P_BODY, P_ATTRS, P_SYS, P_MD5_BODY, P_MD5_ATTRS, P_MD5_SYS, P_SENDER, P_SENT, P_GROUP, P_DEDUP, P_DLQ_SRC = range(11)


def encode_payload(body, attrs, sys_attrs, md5_body, md5_attrs, md5_sys, sender, sent_ms, group, dedup,
                   dlq_source=None) -> bytes:
    return _pack([body, attrs, sys_attrs, md5_body, md5_attrs, md5_sys, sender, sent_ms, group, dedup, dlq_source])


def decode_payload(blob: bytes) -> list:
    return _unpack(blob)


_RH = struct.Struct(">IQI")


def receipt_handle(tag: int, seq: int, lease: int) -> str:
    # opaque to clients; changes with every receive (the lease token)
    raw = _RH.pack(tag, seq, lease)
    return base64.urlsafe_b64encode(b"rh1" + raw + raw[::-1]).decode().rstrip("=")


def parse_receipt_handle(handle: str) -> tuple[int, int, int] | None:
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != 3 + 2 * _RH.size or raw[:3] != b"rh1":
        return None
    body = raw[3:3 + _RH.size]
    if raw[3 + _RH.size:] != body[::-1]:
        return None
    return _RH.unpack(body)


def apply_sse_rules(attrs: dict, changed: dict) -> None:
    """Server-side encryption attributes after a change, as AWS shows them: a KMS key turns
    SSE-SQS off ("false", and KmsDataKeyReusePeriodSeconds defaults to 300); turning SSE-SQS on
    drops the KMS key; without a KMS key there is no KmsDataKeyReusePeriodSeconds."""
    if changed.get("KmsMasterKeyId"):
        attrs["SqsManagedSseEnabled"] = "false"
        attrs.setdefault("KmsDataKeyReusePeriodSeconds", "300")
    elif changed.get("SqsManagedSseEnabled") == "true":
        attrs.pop("KmsMasterKeyId", None)
    if not attrs.get("KmsMasterKeyId"):
        attrs.pop("KmsMasterKeyId", None)
        attrs.pop("KmsDataKeyReusePeriodSeconds", None)


def sequence_number(seq: int) -> str:
    return str(10 ** 19 + seq)


class SqsQueue:
    __slots__ = ("key", "name", "account", "region", "qid", "attrs", "tags", "created", "modified",
                 "last_purge", "queue", "waiters", "attempts", "armed_for", "timer", "fifo", "dead", "scope")

    def __init__(self, key: str, name: str, account: str, region: str, qid: int, attrs: dict,
                 tags: dict, created: int, modified: int, last_purge: int = 0, scope: str | None = None):
        self.key, self.name, self.account, self.region, self.qid = key, name, account, region, qid
        self.fifo = name.endswith(".fifo")
        self.attrs = attrs
        # the deduplication scope in force: the one the queue was created with. AWS changes the
        # DeduplicationScope attribute on SetQueueAttributes but keeps deduplicating as before.
        self.scope = scope or ("group" if attrs.get("DeduplicationScope") == "messageGroup" else "queue")
        self.tags = tags
        self.created, self.modified, self.last_purge = created, modified, last_purge
        self.queue: Queue | None = None
        self.waiters: deque = deque()
        self.attempts: dict[str, tuple[int, list]] = {}
        self.armed_for: int | None = None
        self.timer = None          # the pending shard-timer entry (broker.core.timers.arm_queue)
        self.dead = False

    @property
    def handle_tag(self) -> int:
        """32 bits naming this queue (and this incarnation of it) in receipt handles: qids are only
        unique within a partition, so a handle from a queue elsewhere must not match."""
        return zlib.crc32(f"{self.key}#{self.qid}".encode())

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"

    @classmethod
    def new(cls, key, name, account, region, qid, attrs, tags, now_ms) -> "SqsQueue":
        full = dict(DEFAULT_ATTRIBUTES)
        if name.endswith(".fifo"):
            full.update(FIFO_DEFAULTS)
        full.update(attrs)
        apply_sse_rules(full, attrs)
        return cls(key, name, account, region, qid, full, dict(tags), now_ms, now_ms)

    def record(self) -> dict:
        return {"name": self.name, "account": self.account, "region": self.region, "qid": self.qid,
                "attrs": self.attrs, "tags": self.tags, "created": self.created, "modified": self.modified,
                "last_purge": self.last_purge, "scope": self.scope}

    @classmethod
    def from_record(cls, key: str, rec: dict) -> "SqsQueue":
        return cls(key, rec["name"], rec["account"], rec["region"], rec["qid"], dict(rec["attrs"]),
                   dict(rec["tags"]), rec["created"], rec["modified"], rec.get("last_purge", 0), rec.get("scope"))

    def core_config(self) -> QueueConfig:
        a = self.attrs
        redrive = a.get("RedrivePolicy")
        max_receives = json.loads(redrive)["maxReceiveCount"] if redrive else None
        return QueueConfig(
            fifo=self.fifo,
            delay_ms=int(a.get("DelaySeconds", "0")) * 1000,
            lease_ms=int(a.get("VisibilityTimeout", "30")) * 1000,
            retention_ms=int(a.get("MessageRetentionPeriod", "345600")) * 1000,
            max_receives=max_receives,
            dedup_window_ms=DEDUP_WINDOW_MS if self.fifo else None,
            dedup_scope=self.scope,
            group_mode=GROUP_HEAD,
        )

    @property
    def dlq_arn(self) -> str | None:
        redrive = self.attrs.get("RedrivePolicy")
        return json.loads(redrive)["deadLetterTargetArn"] if redrive else None
