"""SQS message operations, gateway side: validation, MD5s, payloads, CloudWatch metrics.

Metrics go through broker.runtime.telemetry (aggregated per process, shipped
once a second): NumberOfMessagesSent / SentMessageSize on sends,
NumberOfMessagesReceived / NumberOfEmptyReceives on receives,
NumberOfMessagesDeleted on deletes, dimension QueueName, in the queue's
account and region.
"""

from __future__ import annotations

import hashlib
import re
import time

from broker.core.ids import uuid4
from broker.runtime import telemetry
from services.errors import ServiceError
from services.sqs.errors import err, invalid_parameter, invalid_value, missing_parameter
from services.sqs.limits import (
    MAX_BATCH_BYTES, MAX_DELAY, MAX_MESSAGE_SIZE, MAX_VISIBILITY, MAX_WAIT, MESSAGE_SYSTEM_ATTRIBUTES,
)
from services.sqs.messages import check_attributes, check_body, md5_hex, md5_of_attributes, select_attributes
from services.sqs.model import (
    P_ATTRS, P_BODY, P_DEDUP, P_DLQ_SRC, P_GROUP, P_MD5_ATTRS, P_MD5_BODY, P_SENDER, P_SENT, P_SYS,
    decode_payload, encode_payload,
)

_DEDUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_NS = "AWS/SQS"
_msg_id = uuid4
_values = telemetry.values


_SERIES: dict[tuple, tuple] = {}      # (metric, account, region, queue) -> telemetry series key
_SENT: dict[str, list] = {}           # queue's entity key -> its SentMessageSize tally (telemetry.tally)


def _series(name: str, queue: str, account: str, region: str, unit: str = "Count") -> tuple:
    """A queue's series key, built once (a key costs more to build than to record)."""
    key = _SERIES.get((name, account, region, queue))
    if key is None:
        if len(_SERIES) > 10_000:
            _SERIES.clear()
            _SENT.clear()
        key = _SERIES[(name, account, region, queue)] = telemetry.series(
            _NS, name, {"QueueName": queue}, unit, account=account, region=region)
    return key


def _metric(name: str, queue: str, value: float, account: str, region: str, unit: str = "Count") -> None:
    _values(_series(name, queue, account, region, unit)).append(value)


def _sent(key: str, account: str, region: str, queue: str) -> list:
    """The list SendMessage appends each size to: SentMessageSize, and NumberOfMessagesSent
    counted from it at the flush (SendMessage is the hottest path: one append per message)."""
    t = _SENT[key] = telemetry.tally(_series("SentMessageSize", queue, account, region, "Bytes"),
                                     _series("NumberOfMessagesSent", queue, account, region))
    return t


class MessagesApi:
    def _entry(self, ctx, fifo: bool, e: dict, now_ms: int) -> tuple[list, dict]:
        """Validate one message; return (shard entry, partial response)."""
        body = e.get("MessageBody")
        if body is None or body == "":
            raise missing_parameter("MessageBody")
        check_body(body)
        attrs = e.get("MessageAttributes") or None
        sys_attrs = e.get("MessageSystemAttributes") or None
        raw = body.encode()
        size = len(raw) + check_attributes(attrs) + check_attributes(sys_attrs, system=True)
        if size > MAX_MESSAGE_SIZE:
            raise invalid_parameter(f"One or more parameters are invalid. Reason: Message must be shorter than "
                                    f"{MAX_MESSAGE_SIZE} bytes.")
        delay = e.get("DelaySeconds")
        if delay is not None:
            if not 0 <= delay <= MAX_DELAY:
                raise invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.")
            if fifo and delay:   # 0 is accepted on FIFO queues; the queue's delay then applies
                raise invalid_value(delay, "DelaySeconds", "The request include parameter that is not valid for "
                                    "this queue type")
            if fifo:
                delay = None
        group, dedup = e.get("MessageGroupId"), e.get("MessageDeduplicationId")
        if fifo and not group:
            raise missing_parameter("MessageGroupId")
        if group is not None and not _DEDUP_ID.match(group):
            raise invalid_value(group, "MessageGroupId", "MessageGroupId can only include alphanumeric and "
                                "punctuation characters. 1 to 128 in length.")
        if dedup is not None:
            if not fifo:
                raise invalid_value(dedup, "MessageDeduplicationId",
                                    "The request include parameter that is not valid for this queue type")
            if not _DEDUP_ID.match(dedup):
                raise invalid_value(dedup, "MessageDeduplicationId", "MessageDeduplicationId can only include "
                                    "alphanumeric and punctuation characters. 1 to 128 in length.")
        if ctx.trace_header and not (sys_attrs and "AWSTraceHeader" in sys_attrs):
            # X-Amzn-Trace-Id on the request becomes the AWSTraceHeader system attribute
            stored_sys = dict(sys_attrs or {})
            stored_sys["AWSTraceHeader"] = {"DataType": "String", "StringValue": ctx.trace_header}
        else:
            stored_sys = sys_attrs
        md5_body = md5_hex(raw)
        md5_attrs = md5_of_attributes(attrs) if attrs else None
        md5_sys = md5_of_attributes(sys_attrs) if sys_attrs else None
        sender = ctx.account_id if ctx.principal_arn.endswith(":root") else ctx.access_key
        sha = hashlib.sha256(raw).hexdigest() if fifo and dedup is None else None
        payload = encode_payload(body, attrs, stored_sys, md5_body, md5_attrs, md5_sys, sender, now_ms,
                                 group, dedup)
        resp = {"MD5OfMessageBody": md5_body}
        if md5_attrs:
            resp["MD5OfMessageAttributes"] = md5_attrs
        if md5_sys:
            resp["MD5OfMessageSystemAttributes"] = md5_sys
        return [payload, size, _msg_id(), delay, group if fifo else None, dedup, sha], resp

    async def send_message(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        fifo = name.endswith(".fifo")
        entry, resp = self._entry(ctx, fifo, p, int(time.time() * 1000))
        (res,) = await self._call(ctx, key, "sqs.SendMessages", {"m": [entry]})
        if res[0] == "e":
            raise err(res[1], res[2])
        resp["MessageId"] = res[1]
        if res[2]:
            resp["SequenceNumber"] = res[2]
        sent = _SENT.get(key)            # (an empty list is falsy: no `or` here)
        if sent is None:
            sent = _sent(key, account, region, name)
        sent.append(entry[1])
        return resp

    async def send_message_batch(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        entries = p.get("Entries") or []
        self._check_batch(entries, "SendMessageBatchRequestEntry")
        fifo = name.endswith(".fifo")
        now = int(time.time() * 1000)
        total = 0
        for e in entries:
            total += len((e.get("MessageBody") or "").encode())
            for k, v in (e.get("MessageAttributes") or {}).items():
                v = v if isinstance(v, dict) else {}
                total += len(k.encode()) + len((v.get("DataType") or "").encode()) + len(
                    (v.get("StringValue") or "").encode()) + len(v.get("BinaryValue") or b"")
        if total > MAX_BATCH_BYTES:
            raise err("BatchRequestTooLong", f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                      f"You have sent {total} bytes.")
        if fifo and any(not e.get("MessageGroupId") for e in entries):
            # on a FIFO queue an entry without a group fails the whole request, not just itself
            raise invalid_parameter("The request must contain the parameter MessageGroupId.")
        ok_entries, ok_resp, failed = [], [], []
        for e in entries:
            try:
                entry, resp = self._entry(ctx, fifo, e, now)
            except ServiceError as exc:
                failed.append({"Id": e["Id"], "SenderFault": exc.sender_fault, "Code": exc.code,
                               "Message": exc.message})
                continue
            resp["Id"] = e["Id"]
            ok_entries.append(entry)
            ok_resp.append(resp)
        successful = []
        if ok_entries:
            results = await self._call(ctx, key, "sqs.SendMessages", {"m": ok_entries, "batch": True})
            for entry, resp, res in zip(ok_entries, ok_resp, results):
                if res[0] == "e":
                    failed.append({"Id": resp["Id"], "SenderFault": True, "Code": res[1], "Message": res[2]})
                    continue
                resp["MessageId"] = res[1]
                if res[2]:
                    resp["SequenceNumber"] = res[2]
                successful.append(resp)
                _metric("SentMessageSize", name, entry[1], account, region, "Bytes")
            if successful:
                _metric("NumberOfMessagesSent", name, len(successful), account, region)
        out: dict = {"Successful": successful}
        if failed:            # AWS leaves an empty Failed list out
            out["Failed"] = failed
        return out

    async def receive_message(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        max_n = p.get("MaxNumberOfMessages")
        if max_n is None:
            max_n = 1
        elif not 1 <= max_n <= 10:
            raise invalid_value(max_n, "MaxNumberOfMessages", "Must be between 1 and 10, if provided.")
        vt = p.get("VisibilityTimeout")
        if vt is not None and not 0 <= vt <= MAX_VISIBILITY:
            raise invalid_value(vt, "VisibilityTimeout", f"Must be >= 0 and <= {MAX_VISIBILITY}, if provided.")
        wait = p.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= MAX_WAIT:
            raise invalid_value(wait, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided.")
        if self.gateway is not None and getattr(self.gateway, "draining", False):
            wait = 0
        attempt = p.get("ReceiveRequestAttemptId")
        if attempt is not None and not _DEDUP_ID.match(attempt):
            raise invalid_value(attempt, "ReceiveRequestAttemptId", "ReceiveRequestAttemptId can only include "
                                "alphanumeric and punctuation characters. 1 to 128 in length.")
        rows = await self._call(ctx, key, "sqs.ReceiveMessage", {"max": max_n, "vt": vt, "wait": wait,
                                                                 "attempt": attempt, "g": self.index})
        if not rows:
            _metric("NumberOfEmptyReceives", name, 1, account, region)
            return {}
        _metric("NumberOfMessagesReceived", name, len(rows), account, region)
        sys_names = set(p.get("AttributeNames") or []) | set(p.get("MessageSystemAttributeNames") or [])
        if "All" in sys_names:
            sys_names = set(MESSAGE_SYSTEM_ATTRIBUTES)
        attr_names = p.get("MessageAttributeNames") or []
        return {"Messages": [self._message(r, sys_names, attr_names) for r in rows]}

    @staticmethod
    def _message(row, sys_names: set, attr_names: list) -> dict:
        payload, receipt, rc, first, _seq, _lease, seqnum, msg_id = row
        f = decode_payload(payload)
        msg = {"MessageId": msg_id, "ReceiptHandle": receipt, "MD5OfBody": f[P_MD5_BODY], "Body": f[P_BODY]}
        if sys_names:
            a = {}
            if "SenderId" in sys_names:
                a["SenderId"] = f[P_SENDER]
            if "SentTimestamp" in sys_names:
                a["SentTimestamp"] = str(f[P_SENT])
            if "ApproximateReceiveCount" in sys_names:
                a["ApproximateReceiveCount"] = str(rc)
            if "ApproximateFirstReceiveTimestamp" in sys_names and first is not None:
                a["ApproximateFirstReceiveTimestamp"] = str(first)
            if seqnum and "SequenceNumber" in sys_names:
                a["SequenceNumber"] = seqnum
            if f[P_DEDUP] and "MessageDeduplicationId" in sys_names:
                a["MessageDeduplicationId"] = f[P_DEDUP]
            if f[P_GROUP] and "MessageGroupId" in sys_names:
                a["MessageGroupId"] = f[P_GROUP]
            sys_attrs = f[P_SYS]
            if sys_attrs and "AWSTraceHeader" in sys_names and "AWSTraceHeader" in sys_attrs:
                a["AWSTraceHeader"] = sys_attrs["AWSTraceHeader"]["StringValue"]
            if f[P_DLQ_SRC] and "DeadLetterQueueSourceArn" in sys_names:
                a["DeadLetterQueueSourceArn"] = f[P_DLQ_SRC]
            if a:
                msg["Attributes"] = a
        attrs = f[P_ATTRS]
        if attrs:
            chosen = select_attributes(attrs, attr_names)
            if chosen:
                # AWS digests the attributes it returns, and sends no digest when it
                # returns none (SDKs that verify, e.g. PHP and Java, rely on both)
                msg["MessageAttributes"] = chosen
                msg["MD5OfMessageAttributes"] = (f[P_MD5_ATTRS] if len(chosen) == len(attrs)
                                                 else md5_of_attributes(chosen))
        return msg

    async def delete_message(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        handle = p.get("ReceiptHandle")
        if not handle:
            raise missing_parameter("ReceiptHandle")
        (res,) = await self._call(ctx, key, "sqs.DeleteMessages", {"h": [handle]})
        if res[0] == "e":
            raise err(res[1], res[2])
        _metric("NumberOfMessagesDeleted", name, 1, account, region)
        return {}

    async def delete_message_batch(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        entries = p.get("Entries") or []
        self._check_batch(entries, "DeleteMessageBatchRequestEntry")
        results = await self._call(ctx, key, "sqs.DeleteMessages", {"h": [e["ReceiptHandle"] for e in entries]})
        out = self._batch_result(entries, results)
        if out["Successful"]:
            _metric("NumberOfMessagesDeleted", name, len(out["Successful"]), account, region)
        return out

    async def change_message_visibility(self, ctx, p):
        key, *_ = self._target(ctx, p)
        vt = p["VisibilityTimeout"]
        if not 0 <= vt <= MAX_VISIBILITY:
            raise invalid_value(vt, "VisibilityTimeout", f"VisibilityTimeout must be >= 0 and <= {MAX_VISIBILITY}.")
        (res,) = await self._call(ctx, key, "sqs.ChangeVisibility", {"e": [[p["ReceiptHandle"], vt]]})
        if res[0] == "e":
            raise err(res[1], res[2])
        return {}

    async def change_message_visibility_batch(self, ctx, p):
        key, *_ = self._target(ctx, p)
        entries = p.get("Entries") or []
        self._check_batch(entries, "ChangeMessageVisibilityBatchRequestEntry")
        shard_entries, pre = [], {}
        for i, e in enumerate(entries):
            vt = e.get("VisibilityTimeout", 0)
            if not 0 <= vt <= MAX_VISIBILITY:
                pre[i] = ["e", "InvalidParameterValue", f"Value {vt} for parameter VisibilityTimeout is invalid. "
                          f"Reason: VisibilityTimeout must be >= 0 and <= {MAX_VISIBILITY}."]
            else:
                shard_entries.append([e["ReceiptHandle"], vt])
        results = await self._call(ctx, key, "sqs.ChangeVisibility", {"e": shard_entries}) if shard_entries else []
        it = iter(results)
        merged = [pre[i] if i in pre else next(it) for i in range(len(entries))]
        return self._batch_result(entries, merged)
