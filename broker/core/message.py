"""Value types of the queue primitive: messages, dedup records, config, results.

Everything here is plain data with ``__slots__``. ``Message`` and
``DedupRecord`` convert to and from flat tuples (``to_record`` /
``from_record``) so the runtime's store can persist them with msgpack and
hand them back to ``Queue.restore`` after a restart.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "DELAYED",
    "READY",
    "INFLIGHT",
    "GONE",
    "STATE_NAMES",
    "TRANSITIONS",
    "DROP_HEAD",
    "REJECT_PUBLISH",
    "GROUP_EXCLUSIVE",
    "GROUP_HEAD",
    "Message",
    "DedupRecord",
    "QueueConfig",
    "Journal",
    "NullJournal",
    "EnqueueResult",
    "ReceiveResult",
    "DispatchResult",
    "TickResult",
    "LeaseError",
    "MESSAGE_FIELDS",
    "DEDUP_FIELDS",
]

# Message states: named ints (persisted as ints).
DELAYED = 0
READY = 1
INFLIGHT = 2  # leased (pull) or delivered to a push consumer and unacked
GONE = 3
STATE_NAMES = {DELAYED: "DELAYED", READY: "READY", INFLIGHT: "INFLIGHT", GONE: "GONE"}

# The only transitions a message makes (tests check every journal record
# against this table).  A new message starts DELAYED or READY.
TRANSITIONS = {
    DELAYED: frozenset({READY, GONE}),
    READY: frozenset({INFLIGHT, GONE}),
    INFLIGHT: frozenset({READY, INFLIGHT, GONE}),  # INFLIGHT->INFLIGHT: lease change
    GONE: frozenset(),
}

DROP_HEAD = "drop-head"
REJECT_PUBLISH = "reject-publish"

MESSAGE_FIELDS = (
    "seq", "msg_id", "payload", "size", "group", "dedup", "priority",
    "enqueued_at", "visible_at", "expires_at", "receive_count",
    "first_receive_at", "lease", "state", "consumer",
)


class Message:
    """One stored message. ``payload`` is opaque and never inspected."""

    __slots__ = MESSAGE_FIELDS

    def __init__(
        self, seq: int, msg_id: str, payload: Any, size: int, group: str | None,
        dedup: str | None, priority: int, enqueued_at: int, visible_at: int,
        expires_at: int | None, receive_count: int = 0,
        first_receive_at: int | None = None, lease: int = 0, state: int = READY,
        consumer: Any = None,
    ) -> None:
        self.seq = seq
        self.msg_id = msg_id
        self.payload = payload
        self.size = size
        self.group = group
        self.dedup = dedup
        self.priority = priority
        self.enqueued_at = enqueued_at
        self.visible_at = visible_at
        self.expires_at = expires_at
        self.receive_count = receive_count
        self.first_receive_at = first_receive_at
        self.lease = lease
        self.state = state
        self.consumer = consumer

    def to_record(self) -> tuple:
        """Persisted fields, in ``MESSAGE_FIELDS`` order. ``consumer`` is the push
        consumer tag (plain data) or None; restore requeues push-delivered messages."""
        return (
            self.seq, self.msg_id, self.payload, self.size, self.group, self.dedup,
            self.priority, self.enqueued_at, self.visible_at, self.expires_at,
            self.receive_count, self.first_receive_at, self.lease, self.state,
            self.consumer,
        )

    @classmethod
    def from_record(cls, rec: tuple | list) -> "Message":
        return cls(*rec)

    @property
    def redelivered(self) -> bool:
        return self.receive_count > 1

    def __repr__(self) -> str:
        return (
            f"Message(seq={self.seq}, state={STATE_NAMES.get(self.state, self.state)}, "
            f"group={self.group!r}, rc={self.receive_count}, lease={self.lease}, "
            f"visible_at={self.visible_at}, consumer={self.consumer!r})"
        )


DEDUP_FIELDS = ("dedup", "group", "msg_id", "seq", "expires_at")


class DedupRecord:
    """A deduplication id seen within the window; outlives its message."""

    __slots__ = DEDUP_FIELDS + ("key",)

    def __init__(self, dedup: str, group: str | None, msg_id: str, seq: int,
                 expires_at: int, key: Any = None) -> None:
        self.dedup = dedup
        self.group = group
        self.msg_id = msg_id
        self.seq = seq
        self.expires_at = expires_at
        self.key = key if key is not None else dedup

    def to_record(self) -> tuple:
        return (self.dedup, self.group, self.msg_id, self.seq, self.expires_at)

    @classmethod
    def from_record(cls, rec: tuple | list) -> "DedupRecord":
        return cls(*rec)

    def __repr__(self) -> str:
        return f"DedupRecord({self.to_record()!r})"


GROUP_EXCLUSIVE = "exclusive"   # FIFO: a group with anything in flight hands out nothing
GROUP_HEAD = "head"             # FIFO: a group is available while its oldest message is ready;
                                # a group whose message returned goes behind the waiting groups


class QueueConfig:
    __slots__ = (
        "fifo", "delay_ms", "lease_ms", "retention_ms", "max_length", "max_bytes",
        "overflow", "max_receives", "dedup_window_ms", "dedup_scope", "max_priority",
        "group_mode",
    )

    def __init__(
        self, fifo: bool = False, delay_ms: int = 0, lease_ms: int = 30000,
        retention_ms: int | None = None, max_length: int | None = None,
        max_bytes: int | None = None, overflow: str = DROP_HEAD,
        max_receives: int | None = None, dedup_window_ms: int | None = None,
        dedup_scope: str = "queue", max_priority: int | None = None,
        group_mode: str = GROUP_EXCLUSIVE,
    ) -> None:
        if overflow not in (DROP_HEAD, REJECT_PUBLISH):
            raise ValueError(f"overflow must be {DROP_HEAD!r} or {REJECT_PUBLISH!r}")
        if dedup_scope not in ("queue", "group"):
            raise ValueError("dedup_scope must be 'queue' or 'group'")
        if group_mode not in (GROUP_EXCLUSIVE, GROUP_HEAD):
            raise ValueError(f"group_mode must be {GROUP_EXCLUSIVE!r} or {GROUP_HEAD!r}")
        self.fifo = fifo
        self.delay_ms = delay_ms
        self.lease_ms = lease_ms
        self.retention_ms = retention_ms
        self.max_length = max_length
        self.max_bytes = max_bytes
        self.overflow = overflow
        self.max_receives = max_receives
        self.dedup_window_ms = dedup_window_ms
        self.dedup_scope = dedup_scope
        self.max_priority = max_priority
        self.group_mode = group_mode

    def __repr__(self) -> str:
        return "QueueConfig(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


class Journal(Protocol):
    """Persistence hooks. Called synchronously; the runtime stages and group-commits.

    Within one public ``Queue`` call each changed message is reported exactly
    once, with its final state for that call: ``inserted`` (new), ``updated``
    (existing, changed) or ``removed`` (gone; a message inserted and removed
    within the same call is not reported at all).
    """

    def inserted(self, q: Any, m: Message) -> None: ...
    def updated(self, q: Any, m: Message) -> None: ...
    def removed(self, q: Any, m: Message) -> None: ...
    def dedup_added(self, q: Any, rec: DedupRecord) -> None: ...
    def dedup_expired(self, q: Any, rec: DedupRecord) -> None: ...


class NullJournal:
    __slots__ = ()

    def inserted(self, q: Any, m: Message) -> None:
        pass

    updated = removed = inserted

    def dedup_added(self, q: Any, rec: DedupRecord) -> None:
        pass

    dedup_expired = dedup_added


class LeaseError(Exception):
    """change_lease on a message that is not leased (``not_inflight``) or with an old token (``stale``)."""

    def __init__(self, reason: str, seq: int) -> None:
        super().__init__(f"{reason}: seq={seq}")
        self.reason = reason
        self.seq = seq


class EnqueueResult:
    """``message``: the stored message, or on a dedup hit the original if still stored.
    ``duplicate_of``: the ``DedupRecord`` hit (its ``msg_id``/``seq`` name the
    original), else None.  ``rejected``: reject-publish overflow, nothing stored.
    ``dropped``: messages removed by drop-head overflow (caller dead-letters)."""

    __slots__ = ("message", "duplicate_of", "rejected", "dropped")

    def __init__(self, message: Message | None, duplicate_of: DedupRecord | None = None,
                 rejected: bool = False, dropped: list[Message] | None = None) -> None:
        self.message = message
        self.duplicate_of = duplicate_of
        self.rejected = rejected
        self.dropped = dropped if dropped is not None else []


class ReceiveResult:
    __slots__ = ("messages", "dead", "expired")

    def __init__(self, messages: list[Message], dead: list[Message], expired: list[Message]) -> None:
        self.messages = messages
        self.dead = dead
        self.expired = expired


class DispatchResult(list):
    """A list of ``(consumer_tag, Message)`` deliveries, plus ``dead`` and ``expired``."""

    __slots__ = ("dead", "expired")

    def __init__(self) -> None:
        super().__init__()
        self.dead: list[Message] = []
        self.expired: list[Message] = []


class TickResult:
    """``expired``: removed by TTL. ``ready``: how many messages became
    deliverable (dispatch if > 0). ``next_deadline``: arm one timer for it."""

    __slots__ = ("expired", "ready", "next_deadline")

    def __init__(self, expired: list[Message], ready: int, next_deadline: int | None) -> None:
        self.expired = expired
        self.ready = ready
        self.next_deadline = next_deadline
