"""SQS shard half: the queues of one partition and every state change to them.

Ops are ``sqs.<Name>`` with compact args built by the gateway half
(services/sqs/api.py). Each runs synchronously against memory and stages its
writes; the runtime commits them before the reply leaves the shard. Long
polls and SSE-KMS checks return awaitables. Queue attributes, tags and
permissions live in services/sqs/_shard_queues.py (a mixin of this class).
"""

from __future__ import annotations

import asyncio
import logging

from broker.core.message import DELAYED, INFLIGHT, READY, LeaseError, Message
from broker.core.store import open_queue
from broker.core.timers import arm_queue
from broker.runtime.outbox import Outbox
from services.sqs import movetasks
from services.sqs._shard_queues import QueuesMixin
from services.sqs.errors import (
    err, invalid_parameter, message_not_available, queue_does_not_exist, receipt_handle_expired, receipt_handle_invalid,
)
from services.sqs.limits import (
    MAX_INFLIGHT_FIFO, MAX_INFLIGHT_STANDARD, PURGE_INTERVAL_MS, RECEIVE_ATTEMPT_WINDOW_MS,
)
from services.sqs.model import (
    KIND_QUEUE, P_DLQ_SRC, P_SENT, SqsQueue, decode_payload, encode_payload, parse_receipt_handle, receipt_handle,
    sequence_number,
)
from services.sqs.urls import entity_key, parse_arn

log = logging.getLogger("broker.sqs")

KIND_OUTBOX = "sqs.outbox"
# the receipt handle of a peeked message: no receipt was issued, so none deletes it (LocalStack's value)
PEEK_RECEIPT = "SQS/BACKDOOR/ACCESS"
# a peek's reply carries at most this many bytes of messages (IPC frames stop at 64 MiB)
PEEK_MAX_BYTES = 16 << 20

_KMS_ERRORS = {
    "NotFoundException": "KmsNotFound",
    "DisabledException": "KmsDisabled",
    "KMSInvalidStateException": "KmsInvalidState",
    "InvalidKeyUsageException": "KmsInvalidKeyUsage",
    "AccessDeniedException": "KmsAccessDenied",
}


class SqsShard(QueuesMixin):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.queues: dict[str, SqsQueue] = {}
        self.closed = False
        self.deleted_at: dict[str, int] = {}   # queue key -> deletion time (QueueDeletedRecently)
        now = part.now_ms()
        for key, rec in self.store.scan(KIND_QUEUE):
            q = SqsQueue.from_record(key, rec)
            self._attach_core(q, now, restore=True)
            self.queues[key] = q
        self.tasks = movetasks.MoveTasks(self)
        # dead letters bound for DLQs in other partitions; a deleted DLQ drops them, as AWS does
        self.outbox = Outbox(part, KIND_OUTBOX, give_up_codes=("QueueDoesNotExist",))

    def close(self) -> None:
        self.closed = True
        for q in self.queues.values():
            self._release_waiters(q)
        self.tasks.close()
        self.outbox.close()

    # -- queue plumbing -----------------------------------------------------
    def _attach_core(self, q: SqsQueue, now: int, restore: bool = False) -> None:
        q.queue = open_queue(self.store, q.qid, q.core_config(), now, restore=restore)
        self._arm(q)

    def _get(self, key: str) -> SqsQueue:
        q = self.queues.get(key)
        if q is None:
            raise queue_does_not_exist()
        return q

    def _save(self, q: SqsQueue) -> None:
        self.store.put(KIND_QUEUE, q.key, q.record())

    async def _kms_usable(self, q: SqsQueue, key_id: str) -> None:
        """SSE-KMS: the queue's key must be usable, for sends and receives alike (AWS answers
        KMS.DisabledException etc. once SQS cannot use the key)."""
        from broker.runtime.ipc import RemoteError
        try:
            await self.part.call(f"kms/{q.account}/{q.region}", "kms.ResolveUsableKey",
                                 {"a": q.account, "r": q.region, "key": key_id})
        except RemoteError as exc:
            code = _KMS_ERRORS.get(exc.code)
            if code is None:
                raise
            raise err(code, exc.message) from None

    # -- send ---------------------------------------------------------------
    def op_SendMessages(self, a):
        q = self._get(a["k"])
        kms = q.attrs.get("KmsMasterKeyId")
        if kms:
            return self._send_after_kms(q, kms, a)
        return self._send(q, a["m"], a.get("batch", False))

    async def _send_after_kms(self, q: SqsQueue, kms_key_id: str, a):
        await self._kms_usable(q, kms_key_id)
        return self._send(self._get(a["k"]), a["m"], a.get("batch", False))

    def _send(self, q: SqsQueue, entries: list, batch: bool = False):
        """entries: [payload, size, msg_id, delay_s|None, group, dedup, content_sha]; -> per entry result."""
        now = self.part.now_ms()
        core = q.queue
        out = []
        fifo = q.fifo
        cbd = q.attrs.get("ContentBasedDeduplication") == "true"
        max_size = int(q.attrs.get("MaximumMessageSize", "1048576"))
        if fifo and batch and not cbd and any(e[5] is None for e in entries):
            # a FIFO batch entry without a deduplication id fails the whole request (AWS)
            raise invalid_parameter("The queue should either have ContentBasedDeduplication enabled or "
                                    "MessageDeduplicationId provided explicitly")
        for payload, size, msg_id, delay, group, dedup, sha in entries:
            if size > max_size:
                # AWS words the batch entry failure differently from SendMessage's
                how = "cannot be validated" if batch else "are invalid"
                out.append(["e", "InvalidParameterValue", f"One or more parameters {how}. Reason: Message "
                            f"must be shorter than {max_size} bytes."])
                continue
            if fifo and dedup is None:
                if not cbd:
                    out.append(["e", "InvalidParameterValue",
                                "The queue should either have ContentBasedDeduplication enabled or "
                                "MessageDeduplicationId provided explicitly"])
                    continue
                dedup = sha
                payload = _with_dedup(payload, dedup)
            res = core.enqueue(now, payload, size, msg_id=msg_id,
                               delay_ms=None if delay is None else delay * 1000,
                               dedup=dedup, group=group)
            dup = res.duplicate_of
            if dup is not None:
                out.append(["ok", dup.msg_id, sequence_number(dup.seq) if fifo else None])
            else:
                m = res.message
                out.append(["ok", m.msg_id, sequence_number(m.seq) if fifo else None])
        self._after_change(q)
        return out

    def op_Enqueue(self, a):
        """Cross-partition delivery (dead letters, move tasks):
        [payload, size, msg_id, group, dedup, sent, receive_count?, first_receive?]."""
        q = self.queues.get(a["k"])
        if q is None:
            raise queue_does_not_exist()
        now = self.part.now_ms()
        retention = int(q.attrs.get("MessageRetentionPeriod", "345600")) * 1000
        for rec in a["m"]:
            payload, size, msg_id, group, dedup, sent = rec[:6]
            rc, first = (rec[6], rec[7]) if len(rec) > 6 else (0, None)
            ttl = None if q.fifo or not sent else max(1, retention - (now - sent))
            q.queue.enqueue(now, payload, size, msg_id=msg_id, delay_ms=0, dedup=dedup, group=group, ttl_ms=ttl,
                            receive_count=rc, first_receive_at=first)
        self._after_change(q)
        return len(a["m"])

    # -- receive ------------------------------------------------------------
    def op_ReceiveMessage(self, a):
        q = self._get(a["k"])
        kms = q.attrs.get("KmsMasterKeyId")
        if kms:
            return self._receive_after_kms(q, kms, a)
        return self._receive(q, a)

    async def _receive_after_kms(self, q: SqsQueue, kms_key_id: str, a):
        await self._kms_usable(q, kms_key_id)
        got = self._receive(self._get(a["k"]), a)
        return (await got) if asyncio.isfuture(got) else got

    def _receive(self, q: SqsQueue, a):
        now = self.part.now_ms()
        attempt = a.get("attempt")
        if attempt and q.fifo:
            hit = q.attempts.get(attempt)
            if hit is not None and hit[0] > now:
                again = self._replay_attempt(q, hit[1])
                if again is not None:
                    return again
        limit = MAX_INFLIGHT_FIFO if q.fifo else MAX_INFLIGHT_STANDARD
        if q.queue.inflight >= limit:
            raise err("OverLimit", f"You have reached the in-flight message limit of {limit} for this queue.")
        got = self._receive_now(q, a["max"], a.get("vt"), now)
        wait = a.get("wait")
        if wait is None:
            wait = int(q.attrs.get("ReceiveMessageWaitTimeSeconds", "0"))
        if got or not wait:
            if attempt and q.fifo:
                q.attempts[attempt] = (now + RECEIVE_ATTEMPT_WINDOW_MS, [(r[4], r[5]) for r in got])
            return got
        fut = asyncio.get_running_loop().create_future()
        deadline = now + wait * 1000
        q.waiters.append((fut, a, a.get("g")))
        self.part.schedule(deadline, lambda _now, f=fut: (not f.done()) and f.set_result([]))
        return fut

    def _receive_now(self, q: SqsQueue, max_n: int, vt, now: int) -> list:
        res = q.queue.receive(now, max_n, None if vt is None else vt * 1000)
        out = [self._wire(q, m) for m in res.messages]
        if res.dead:
            self._dead_letter(q, res.dead)
        self._arm(q)
        return out

    def _wire(self, q: SqsQueue, m: Message) -> list:
        payload = m.payload
        if payload is None:
            payload = self.store.load_payload(q.qid, m.seq)
        return [payload, receipt_handle(q.handle_tag, m.seq, m.lease), m.receive_count, m.first_receive_at,
                m.seq, m.lease, sequence_number(m.seq) if q.fifo else None, m.msg_id]

    def op_PeekMessages(self, a):
        """The developer endpoint (services/sqs/admin.py): the queue's messages in queue order
        with their state, changing nothing (no receive count, no visibility, no write).
        Receivable ones always; in flight with "inv" (and, on FIFO, those a message in flight
        holds back in their group); delayed with "dly"; the oldest PEEK_MAX_BYTES of them. Row: a
        `_wire` row with a dummy receipt handle, then visible, delayed. O(messages of this
        queue in memory), on this path only; a backlog left on disk is read only as far as
        the budget reaches (standard queues)."""
        q = self._get(a["k"])
        now = self.part.now_ms()
        fifo = q.fifo
        held: set = set()          # FIFO groups with a message in flight
        picked = []
        scan = PEEK_MAX_BYTES      # standard queues: enough candidates for the budget below
        for m in q.queue.ordered():
            if not fifo and scan < 0:
                break
            # the state the next timer tick would give it, without applying it
            inflight = m.state == INFLIGHT and m.visible_at > now
            delayed = m.state == DELAYED and m.visible_at > now
            if not inflight and m.expires_at is not None and m.expires_at <= now:
                continue                       # past retention: gone at the next tick
            if inflight and fifo:
                held.add(m.group)
            picked.append((m, inflight, delayed))
            if not ((delayed and not a.get("dly")) or (inflight and not a.get("inv"))):
                scan -= m.size
        rows, load, budget = [], [], PEEK_MAX_BYTES
        for m, inflight, delayed in picked:
            visible = not inflight and not delayed and not (fifo and m.group in held)
            if (delayed and not a.get("dly")) or (not visible and not delayed and not a.get("inv")):
                continue
            budget -= m.size
            if budget < 0 and rows:
                break
            if m.payload is None:
                load.append(m.seq)
            rows.append([m.payload, PEEK_RECEIPT, m.receive_count, m.first_receive_at, m.seq, m.lease,
                         sequence_number(m.seq) if fifo else None, m.msg_id, visible, delayed])
        if load:               # payloads evicted to disk: read back in few statements
            many = getattr(self.store, "load_payloads", None)
            got = many(q.qid, load) if many else {s: self.store.load_payload(q.qid, s) for s in load}
            rows = [r if r[0] is not None else [got.get(r[4])] + r[1:] for r in rows]
            rows = [r for r in rows if r[0] is not None]
        return rows

    def _replay_attempt(self, q: SqsQueue, entries) -> list | None:
        out = []
        for seq, lease in entries:
            m = q.queue.get(seq)
            if m is None or m.state != INFLIGHT or m.lease != lease:
                return None
            out.append(self._wire(q, m))
        return out

    def _wake(self, q: SqsQueue) -> None:
        """Serve long polls now that messages may be visible; no polling loop."""
        waiters = q.waiters
        now = self.part.now_ms()
        while waiters and q.queue.visible > 0:
            fut, a, _g = waiters[0]
            if fut.done():          # answered, timed out, or its client went away (cancelled)
                waiters.popleft()
                continue
            got = self._receive_now(q, a["max"], a.get("vt"), now)
            if not got:
                break
            waiters.popleft()
            attempt = a.get("attempt")
            if attempt and q.fifo:
                q.attempts[attempt] = (now + RECEIVE_ATTEMPT_WINDOW_MS, [(r[4], r[5]) for r in got])
            fut.set_result(got)
        while waiters and waiters[0][0].done():
            waiters.popleft()

    def _release_waiters(self, q: SqsQueue, gateway=None) -> None:
        keep = []
        for entry in q.waiters:
            fut, _a, g = entry
            if fut.done():
                continue
            if gateway is None or g == gateway:
                fut.set_result([])
            else:
                keep.append(entry)
        q.waiters.clear()
        q.waiters.extend(keep)

    def op_ReleaseWaiters(self, a):
        """A draining gateway ends its long polls early (empty receives)."""
        for q in self.queues.values():
            self._release_waiters(q, a.get("g"))
        return True

    # -- delete / visibility ------------------------------------------------
    def _lookup(self, q: SqsQueue, handle: str, out: list):
        """(seq, lease token, message or None) a receipt handle names; None (and
        ReceiptHandleIsInvalid appended to `out`) when it is no handle of this queue."""
        rh = parse_receipt_handle(handle)
        if rh is None or rh[0] != q.handle_tag:
            out.append(_error(receipt_handle_invalid(handle)))
            return None
        return rh[1], rh[2], q.queue.get(rh[1])

    @staticmethod
    def _expired(m: Message, lease: int, now: int) -> bool:
        """A handle whose visibility timeout passed (or that a later receive replaced)."""
        return m.lease != lease or m.state != INFLIGHT or m.visible_at <= now

    def op_DeleteMessages(self, a):
        """Standard queues accept an expired handle (the message goes) and an older one (the
        request succeeds, the message stays, as AWS documents). FIFO queues refuse a handle
        whose visibility timeout passed: InvalidParameterValue, the message kept."""
        q = self._get(a["k"])
        core = q.queue
        now = self.part.now_ms()
        out = []
        for handle in a["h"]:
            found = self._lookup(q, handle, out)
            if found is None:
                continue
            seq, lease, m = found
            if m is None:
                out.append(["ok"])       # already deleted: deleting again is fine
                continue
            if q.fifo and self._expired(m, lease, now):
                out.append(_error(receipt_handle_expired(handle)))
                continue
            core.delete(seq, lease)
            out.append(["ok"])
        self._after_change(q)
        return out

    def op_ChangeVisibility(self, a):
        """Standard queues apply an older or expired handle to the message (an expired one hides
        it again); FIFO queues refuse a handle whose visibility timeout passed."""
        q = self._get(a["k"])
        now = self.part.now_ms()
        core = q.queue
        out = []
        for handle, vt in a["e"]:
            found = self._lookup(q, handle, out)
            if found is None:
                continue
            seq, lease, m = found
            if m is None or m.first_receive_at is None:
                out.append(_error(message_not_available(handle)))
                continue
            if q.fifo:
                if self._expired(m, lease, now):
                    out.append(_error(receipt_handle_expired(handle)))
                    continue
            elif m.state == READY and vt == 0:
                out.append(["ok"])      # already visible
                continue
            try:
                core.change_lease(now, seq, m.lease, vt * 1000, revive=not q.fifo)
            except LeaseError:
                out.append(_error(message_not_available(handle)))
                continue
            out.append(["ok"])
        self._after_change(q)
        return out

    def op_PurgeQueue(self, a):
        q = self._get(a["k"])
        now = self.part.now_ms()
        if q.last_purge and now - q.last_purge < PURGE_INTERVAL_MS:
            raise err("PurgeQueueInProgress",
                      f"Only one PurgeQueue operation on {q.name} is allowed every 60 seconds.", 403)
        # a purged FIFO queue forgets its deduplication ids: a re-send is a new message (AWS)
        q.queue.purge(include_inflight=True, clear_dedup=True)
        q.last_purge = now
        self._save(q)
        self._arm(q)
        return {}

    # -- dead-letter queues ---------------------------------------------------
    def _dead_letter(self, q: SqsQueue, dead: list[Message]) -> None:
        """Move messages past the redrive limit to the queue's DLQ; they keep their
        ApproximateReceiveCount and first-receive time (AWS)."""
        arn = q.dlq_arn
        parsed = parse_arn(arn) if arn else None
        if parsed is None:
            return
        key = entity_key(*parsed)
        recs = []
        for m in dead:
            payload = m.payload if m.payload is not None else self.store.load_payload(q.qid, m.seq)
            if payload is None:
                continue
            fields = decode_payload(payload)
            fields[P_DLQ_SRC] = q.arn
            recs.append([encode_payload(*fields), m.size, m.msg_id, m.group, m.dedup, fields[P_SENT],
                         m.receive_count, m.first_receive_at])
        if not recs:
            return
        if key in self.queues:   # same partition: one atomic commit
            self.op_Enqueue({"k": key, "m": recs})
            return
        # another partition: durable outbox entry, committed with the removal
        self.outbox.send(key, "sqs.Enqueue", {"k": key, "m": recs})

    # -- message move tasks -------------------------------------------------
    def op_StartMessageMoveTask(self, a):
        return self.tasks.start(a)

    def op_CancelMessageMoveTask(self, a):
        return self.tasks.cancel(a)

    def op_ListMessageMoveTasks(self, a):
        return self.tasks.list(a)

    # -- timers -------------------------------------------------------------
    def _after_change(self, q: SqsQueue) -> None:
        if q.waiters:
            self._wake(q)
        self._arm(q)

    def _arm(self, q: SqsQueue) -> None:
        arm_queue(self.part, q, self._fire)

    def _fire(self, q: SqsQueue, now: int) -> None:
        if q.dead or self.closed or self.queues.get(q.key) is not q:
            return
        q.armed_for = None
        q.queue.tick(now, keep_expired=False)     # past retention is simply gone: a backlog's on disk unread
        if q.attempts:
            for k in [k for k, (exp, _) in q.attempts.items() if exp <= now]:
                del q.attempts[k]
        if q.waiters:
            self._wake(q)
        self._arm(q)


def _error(exc) -> list:
    return ["e", exc.code, exc.message]


def _with_dedup(payload: bytes, dedup: str) -> bytes:
    fields = decode_payload(payload)
    fields[9] = dedup
    return encode_payload(*fields)
