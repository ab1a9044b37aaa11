"""SQS shard half: the queues of one partition and every state change to them.

Ops are ``sqs.<Name>`` with compact args built by the gateway half
(services/sqs/api.py). Each runs synchronously against memory and stages its
writes; the runtime commits them before the reply leaves the shard. Long
polls and SSE-KMS checks return awaitables.
"""

from __future__ import annotations

import asyncio
import json
import logging

from broker.core.message import INFLIGHT, LeaseError, Message
from broker.core.store import open_queue
from broker.core.timers import arm_queue
from broker.runtime.outbox import Outbox
from services.sqs import movetasks
from services.sqs.errors import err, invalid_parameter, queue_does_not_exist
from services.sqs.limits import (
    MAX_INFLIGHT_FIFO, MAX_INFLIGHT_STANDARD, PURGE_INTERVAL_MS, RECEIVE_ATTEMPT_WINDOW_MS,
)
from services.sqs.model import (
    P_DLQ_SRC, P_SENT, SqsQueue, decode_payload, encode_payload, parse_receipt_handle, receipt_handle,
    sequence_number,
)
from services.sqs.urls import entity_key, parse_arn

log = logging.getLogger("broker.sqs")

QUEUE_REUSE_DELAY_MS = 60_000   # AWS: wait 60 s after DeleteQueue before reusing the name

KIND_QUEUE = "sqs.queue"
KIND_OUTBOX = "sqs.outbox"

_KMS_ERRORS = {
    "NotFoundException": "KmsNotFound",
    "DisabledException": "KmsDisabled",
    "KMSInvalidStateException": "KmsInvalidState",
    "InvalidKeyUsageException": "KmsInvalidKeyUsage",
    "AccessDeniedException": "KmsAccessDenied",
}


class SqsShard:
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

    # -- queue lifecycle ----------------------------------------------------
    def _attach_core(self, q: SqsQueue, now: int, restore: bool = False) -> None:
        core = open_queue(self.store, q.qid, q.core_config(), now, restore=restore)
        q.queue = core
        self._arm(q)

    def _get(self, key: str) -> SqsQueue:
        q = self.queues.get(key)
        if q is None:
            raise queue_does_not_exist()
        return q

    def _save(self, q: SqsQueue) -> None:
        self.store.put(KIND_QUEUE, q.key, q.record())

    def op_CreateQueue(self, a):
        key, now = a["k"], self.part.now_ms()
        q = self.queues.get(key)
        if q is not None:
            for name, value in a["attrs"].items():
                if q.attrs.get(name, "") != value:
                    raise err("QueueNameExists",
                              f"A queue already exists with the same name and a different value for attribute {name}")
            return {"created": False}
        gone = self.deleted_at.get(key)
        if gone is not None and now - gone < QUEUE_REUSE_DELAY_MS:
            raise err("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can "
                      "create another with the same name.")
        self.deleted_at.pop(key, None)
        qid = self.store.allocate_id("qid")  # one counter per partition: qids key message rows
        q = SqsQueue.new(key, a["name"], a["account"], a["region"], qid, a["attrs"], a.get("tags") or {}, now)
        self._attach_core(q, now)
        self.queues[key] = q
        self._save(q)
        return {"created": True}

    def op_DeleteQueue(self, a):
        q = self._get(a["k"])
        del self.queues[q.key]
        q.dead = True
        now = self.part.now_ms()
        self.deleted_at = {k: t for k, t in self.deleted_at.items() if now - t < QUEUE_REUSE_DELAY_MS}
        self.deleted_at[q.key] = now
        self._release_waiters(q)
        self.store.delete(KIND_QUEUE, q.key)
        self.store.drop_queue(q.qid)
        self.tasks.queue_deleted(q)
        return {}

    def op_GetQueue(self, a):
        """What another queue needs to know of this one (redrive checks)."""
        q = self.queues.get(a["k"])
        if q is None:
            return None
        return {"arn": q.arn, "fifo": q.fifo, "allow": q.attrs.get("RedriveAllowPolicy", ""),
                "dlq": q.dlq_arn}

    def op_GetQueueAttributes(self, a):
        q = self._get(a["k"])
        core = q.queue
        out = dict(q.attrs)
        out.update({
            "ApproximateNumberOfMessages": str(core.visible),
            "ApproximateNumberOfMessagesNotVisible": str(core.inflight),
            "ApproximateNumberOfMessagesDelayed": str(core.delayed),
            "CreatedTimestamp": str(q.created // 1000),
            "LastModifiedTimestamp": str(q.modified // 1000),
            "QueueArn": q.arn,
        })
        return {k: v for k, v in out.items() if v != ""}

    def op_SetQueueAttributes(self, a):
        q = self._get(a["k"])
        attrs = dict(q.attrs)
        for name, value in a["attrs"].items():
            if value == "" and name in ("RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId"):
                attrs.pop(name, None)
            else:
                attrs[name] = value
        if a["attrs"].get("KmsMasterKeyId"):
            attrs.pop("SqsManagedSseEnabled", None)
            attrs.setdefault("KmsDataKeyReusePeriodSeconds", "300")
        elif a["attrs"].get("SqsManagedSseEnabled") == "true":
            attrs.pop("KmsMasterKeyId", None)
        if attrs.get("FifoThroughputLimit") == "perMessageGroupId" and attrs.get("DeduplicationScope") != "messageGroup":
            raise invalid_parameter("The perMessageGroupId value is allowed only when the value for "
                                    "DeduplicationScope is messageGroup")
        q.attrs = attrs
        q.modified = self.part.now_ms()
        self._reconfigure(q)
        self._save(q)
        return {}

    def _reconfigure(self, q: SqsQueue) -> None:
        core = q.queue
        cfg = q.core_config()
        reconfigure = getattr(core, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(cfg)
        else:
            core.config = cfg
            core._max_receives = cfg.max_receives
        self._arm(q)

    def op_TagQueue(self, a):
        q = self._get(a["k"])
        tags = dict(q.tags)
        tags.update(a["tags"])
        if len(tags) > 50:
            raise invalid_parameter("Too many tags added for queue " + q.name + ".")
        q.tags = tags
        self._save(q)
        return {}

    def op_UntagQueue(self, a):
        q = self._get(a["k"])
        for k in a["keys"]:
            q.tags.pop(k, None)
        self._save(q)
        return {}

    def op_ListQueueTags(self, a):
        return dict(self._get(a["k"]).tags)

    def op_ListQueues(self, a):
        """Broadcast: names of this partition's queues in a namespace, by prefix."""
        acct, region, prefix = a["account"], a["region"], a.get("prefix") or ""
        return [q.name for q in self.queues.values()
                if q.account == acct and q.region == region and q.name.startswith(prefix)]

    def op_ListDeadLetterSourceQueues(self, a):
        arn = a["arn"]
        return [[q.account, q.name] for q in self.queues.values() if q.dlq_arn == arn]

    def op_Permission(self, a):
        q = self._get(a["k"])
        policy = json.loads(q.attrs["Policy"]) if q.attrs.get("Policy") else None
        label = a["label"]
        if a["add"]:
            if policy is None:
                policy = {"Version": "2012-10-17", "Id": f"{q.arn}/SQSDefaultPolicy", "Statement": []}
            stmts = policy.setdefault("Statement", [])
            if any(s.get("Sid") == label for s in stmts):
                raise invalid_parameter(f"Value {label} for parameter Label is invalid. Reason: Already exists.")
            principals = [f"arn:aws:iam::{acct}:root" for acct in a["accounts"]]
            stmts.append({"Sid": label, "Effect": "Allow",
                          "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                          "Action": [f"SQS:{act}" for act in a["actions"]] if len(a["actions"]) > 1
                          else f"SQS:{a['actions'][0]}",
                          "Resource": q.arn})
        else:
            stmts = (policy or {}).get("Statement", [])
            kept = [s for s in stmts if s.get("Sid") != label]
            if len(kept) == len(stmts):
                raise invalid_parameter(
                    f"Value {label} for parameter Label is invalid. Reason: can't find label on existing policy.")
            policy["Statement"] = kept
        q.attrs["Policy"] = json.dumps(policy, separators=(",", ":")) if policy and policy["Statement"] else ""
        if not q.attrs["Policy"]:
            del q.attrs["Policy"]
        q.modified = self.part.now_ms()
        self._save(q)
        return {}

    # -- send ---------------------------------------------------------------
    def op_SendMessages(self, a):
        q = self._get(a["k"])
        kms = q.attrs.get("KmsMasterKeyId")
        if kms:
            return self._send_after_kms(q, kms, a)
        return self._send(q, a["m"])

    async def _send_after_kms(self, q: SqsQueue, kms_key_id: str, a):
        from broker.runtime.ipc import RemoteError
        try:
            await self.part.call(f"kms/{q.account}/{q.region}", "kms.ResolveUsableKey",
                                 {"a": q.account, "r": q.region, "key": kms_key_id})
        except RemoteError as exc:
            code = _KMS_ERRORS.get(exc.code)
            if code is None:
                raise
            raise err(code, exc.message) from None
        q2 = self.queues.get(a["k"])
        if q2 is None:
            raise queue_does_not_exist()
        return self._send(q2, a["m"])

    def _send(self, q: SqsQueue, entries: list):
        """entries: [payload, size, msg_id, delay_s|None, group, dedup, content_sha]; -> per entry result."""
        now = self.part.now_ms()
        core = q.queue
        out = []
        fifo = q.fifo
        cbd = q.attrs.get("ContentBasedDeduplication") == "true"
        max_size = int(q.attrs.get("MaximumMessageSize", "1048576"))
        for payload, size, msg_id, delay, group, dedup, sha in entries:
            if size > max_size:
                out.append(["e", "InvalidParameterValue", "One or more parameters are invalid. Reason: Message "
                            f"must be shorter than {max_size} bytes."])
                continue
            if fifo:
                if dedup is None:
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
        """Cross-partition delivery (dead-letter moves, move tasks): [payload, size, msg_id, group, dedup, sent]."""
        q = self.queues.get(a["k"])
        if q is None:
            raise queue_does_not_exist()
        now = self.part.now_ms()
        retention = int(q.attrs.get("MessageRetentionPeriod", "345600")) * 1000
        for payload, size, msg_id, group, dedup, sent in a["m"]:
            ttl = None if q.fifo or not sent else max(1, retention - (now - sent))
            q.queue.enqueue(now, payload, size, msg_id=msg_id, delay_ms=0, dedup=dedup, group=group, ttl_ms=ttl)
        self._after_change(q)
        return len(a["m"])

    # -- receive ------------------------------------------------------------
    def op_ReceiveMessage(self, a):
        q = self._get(a["k"])
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
        core = q.queue
        res = core.receive(now, max_n, None if vt is None else vt * 1000)
        out = []
        for m in res.messages:
            out.append(self._wire(q, m))
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
            if fut.done():
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
    def op_DeleteMessages(self, a):
        q = self._get(a["k"])
        out = []
        core = q.queue
        for handle in a["h"]:
            rh = parse_receipt_handle(handle)
            if rh is None or rh[0] != q.handle_tag:
                out.append(["e", "ReceiptHandleIsInvalid",
                            f'The input receipt handle "{handle}" is not a valid receipt handle.'])
                continue
            # an older receipt handle: the request succeeds but the message is not deleted (AWS)
            core.delete(rh[1], rh[2])
            out.append(["ok"])
        self._after_change(q)
        return out

    def op_ChangeVisibility(self, a):
        q = self._get(a["k"])
        now = self.part.now_ms()
        core = q.queue
        out = []
        for handle, vt in a["e"]:
            rh = parse_receipt_handle(handle)
            if rh is None or rh[0] != q.handle_tag:
                out.append(["e", "ReceiptHandleIsInvalid",
                            f'The input receipt handle "{handle}" is not a valid receipt handle.'])
                continue
            m = core.get(rh[1])
            if m is None or m.state != INFLIGHT:
                out.append(["e", "MessageNotInflight", "Message does not exist or is not available for visibility "
                            "timeout change."])
                continue
            try:
                core.change_lease(now, rh[1], rh[2], vt * 1000)
            except LeaseError:
                out.append(["e", "InvalidParameterValue",
                            f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle "
                            "has expired."])
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
        q.queue.purge(include_inflight=True)
        q.last_purge = now
        self._save(q)
        return {}

    # -- dead-letter queues ---------------------------------------------------
    def _dead_letter(self, q: SqsQueue, dead: list[Message]) -> None:
        arn = q.dlq_arn
        parsed = parse_arn(arn) if arn else None
        if parsed is None:
            return
        region, account, name = parsed
        key = entity_key(region, account, name)
        recs = []
        for m in dead:
            payload = m.payload if m.payload is not None else self.store.load_payload(q.qid, m.seq)
            if payload is None:
                continue
            fields = decode_payload(payload)
            fields[P_DLQ_SRC] = q.arn
            recs.append([encode_payload(*fields), m.size, m.msg_id, m.group, m.dedup, fields[P_SENT]])
        if not recs:
            return
        target = self.queues.get(key)
        if target is not None:  # same partition: one atomic commit
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
        q.queue.tick(now)
        if q.attempts:
            for k in [k for k, (exp, _) in q.attempts.items() if exp <= now]:
                del q.attempts[k]
        if q.waiters:
            self._wake(q)
        self._arm(q)


def _with_dedup(payload: bytes, dedup: str) -> bytes:
    fields = decode_payload(payload)
    fields[9] = dedup
    return encode_payload(*fields)
