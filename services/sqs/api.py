"""SQS gateway half: validation, MD5s and payloads here; state on the shard.

Stateless per request: parse the queue URL into the queue's entity key,
validate input with SQS's limits and messages, and send one compact op to
the shard that owns the queue. Scatter-gather only for the list operations.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time

from broker.core.ids import uuid4
from services.errors import NotImplementedOperation, ServiceError
from services.sqs import attributes as qattrs
from services.sqs.errors import err, invalid_parameter, invalid_value, missing_parameter, queue_does_not_exist
from services.sqs.limits import (
    ALL_ATTRIBUTES, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_DELAY, MAX_LIST_RESULTS, MAX_MESSAGE_SIZE,
    MAX_VISIBILITY, MAX_WAIT, MESSAGE_SYSTEM_ATTRIBUTES,
)
from services.sqs.messages import (
    check_attributes, check_body, md5_hex, md5_of_attributes, select_attributes, valid_batch_id,
)
from services.sqs.model import (
    P_ATTRS, P_BODY, P_DEDUP, P_DLQ_SRC, P_GROUP, P_MD5_ATTRS, P_MD5_BODY, P_SENDER, P_SENT, P_SYS,
    decode_payload, encode_payload,
)
from services.sqs.movetasks import parse_task_handle
from services.sqs.urls import entity_key, parse_arn, parse_queue_url, queue_url

_DEDUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ACTIONS = {"*", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
            "ReceiveMessage", "SendMessage", "ChangeMessageVisibilityBatch", "DeleteMessageBatch",
            "SendMessageBatch", "PurgeQueue", "ListDeadLetterSourceQueues", "ListQueueTags"}


_msg_id = uuid4


class SqsApi:
    def __init__(self, gateway):
        self.gateway = gateway
        self.index = getattr(gateway, "index", 0)
        self._ops = {
            "CreateQueue": self.create_queue, "DeleteQueue": self.delete_queue,
            "GetQueueUrl": self.get_queue_url, "ListQueues": self.list_queues,
            "GetQueueAttributes": self.get_queue_attributes, "SetQueueAttributes": self.set_queue_attributes,
            "SendMessage": self.send_message, "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message, "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "PurgeQueue": self.purge_queue, "TagQueue": self.tag_queue, "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags, "AddPermission": self.add_permission,
            "RemovePermission": self.remove_permission,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "StartMessageMoveTask": self.start_message_move_task,
            "ListMessageMoveTasks": self.list_message_move_tasks,
            "CancelMessageMoveTask": self.cancel_message_move_task,
        }
        if hasattr(gateway, "drain_hooks"):
            gateway.drain_hooks.append(self._on_drain)

    async def _on_drain(self) -> None:
        await self.gateway.cluster.call_all("sqs.ReleaseWaiters", {"g": self.index})

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            raise NotImplementedOperation(f"SQS {operation} is not implemented.")
        return await fn(ctx, params)

    # -- helpers --------------------------------------------------------------
    def _target(self, ctx, params) -> tuple[str, str, str, str]:
        """(entity key, region, account, name) of the queue a request addresses."""
        url = params.get("QueueUrl")
        if not url:
            raise missing_parameter("QueueUrl")
        region, account, name = parse_queue_url(url)
        region = region or ctx.region
        account = account or ctx.account_id
        return entity_key(region, account, name), region, account, name

    def _url(self, ctx, account: str, name: str) -> str:
        return queue_url(ctx.base_url, account, name)

    async def _call(self, ctx, key: str, op: str, args: dict):
        args["k"] = key
        return await ctx.cluster.call(key, op, args)

    @staticmethod
    def _check_batch(entries, kind: str) -> None:
        if not entries:
            raise err("EmptyBatchRequest", f"There should be at least one {kind} in the request.")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise err("TooManyEntriesInBatchRequest",
                      f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {len(entries)}.")
        seen = set()
        for e in entries:
            eid = e.get("Id", "")
            if not valid_batch_id(eid):
                raise err("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                          "hyphens and underscores. It can be at most 80 letters long.")
            if eid in seen:
                raise err("BatchEntryIdsNotDistinct", f"Id {eid} repeated.")
            seen.add(eid)

    # -- queues -------------------------------------------------------------
    async def create_queue(self, ctx, p):
        name = p["QueueName"]
        attrs = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        fifo = attrs.get("FifoQueue", "").lower() == "true"
        qattrs.check_queue_name(name, fifo or name.endswith(".fifo") and "FifoQueue" in attrs)
        if name.endswith(".fifo") and not fifo:
            qattrs.check_queue_name(name, False)
        attrs = qattrs.normalize(attrs, fifo=fifo, creating=True)
        attrs.pop("FifoQueue", None) if not fifo else None
        tags = p.get("tags") or {}
        self._check_tags(tags)
        key = entity_key(ctx.region, ctx.account_id, name)
        if attrs.get("RedrivePolicy"):
            await self._check_redrive(ctx, attrs["RedrivePolicy"], fifo,
                                      f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{name}")
        self._check_fifo_limits(attrs)
        await self._call(ctx, key, "sqs.CreateQueue", {"name": name, "account": ctx.account_id,
                                                       "region": ctx.region, "attrs": attrs, "tags": tags})
        return {"QueueUrl": self._url(ctx, ctx.account_id, name)}

    @staticmethod
    def _check_fifo_limits(attrs: dict) -> None:
        if (attrs.get("FifoThroughputLimit") == "perMessageGroupId"
                and attrs.get("DeduplicationScope", "messageGroup") != "messageGroup"):
            raise invalid_parameter("The perMessageGroupId value is allowed only when the value for "
                                    "DeduplicationScope is messageGroup")

    @staticmethod
    def _check_tags(tags: dict) -> None:
        if len(tags) > 50:
            raise invalid_parameter("Too many tags added for queue.")
        for k, v in tags.items():
            if not 1 <= len(k) <= 128 or len(v) > 256 or k.lower().startswith("aws:"):
                raise invalid_parameter(f"Tag key or value is invalid: {k}")

    async def _check_redrive(self, ctx, policy: str, fifo: bool, source_arn: str) -> None:
        import json
        doc = json.loads(policy)
        region, account, name = parse_arn(doc["deadLetterTargetArn"])
        info = await ctx.cluster.call(entity_key(region, account, name), "sqs.GetQueue",
                                      {"k": entity_key(region, account, name)})
        reason = None
        if info is None:
            reason = "Dead letter target does not exist."
        elif info["fifo"] != fifo:
            reason = "Dead-letter queue must be same type of queue as the source."
        elif not qattrs.redrive_allows(info["allow"], source_arn):
            reason = f"Queue {doc['deadLetterTargetArn']} does not allow {source_arn} to use it as a dead-letter queue."
        if reason:
            raise invalid_parameter(f"Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}")

    async def delete_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.DeleteQueue", {})
        return {}

    async def get_queue_url(self, ctx, p):
        name = p["QueueName"]
        account = p.get("QueueOwnerAWSAccountId") or ctx.account_id
        key = entity_key(ctx.region, account, name)
        if await self._call(ctx, key, "sqs.GetQueue", {}) is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self._url(ctx, account, name)}

    async def list_queues(self, ctx, p):
        prefix = p.get("QueueNamePrefix") or ""
        results = await ctx.cluster.call_all("sqs.ListQueues", {"account": ctx.account_id, "region": ctx.region,
                                                                "prefix": prefix})
        names = sorted(n for _p, names in results for n in names)
        urls = [self._url(ctx, ctx.account_id, n) for n in names]
        return self._paginate(urls, p, "QueueUrls")

    @staticmethod
    def _paginate(items: list, p: dict, member: str) -> dict:
        max_results = p.get("MaxResults")
        if max_results is not None and not 1 <= max_results <= MAX_LIST_RESULTS:
            raise invalid_value(max_results, "MaxResults", "MaxResults must be an integer between 1 and 1000.")
        start = 0
        token = p.get("NextToken")
        if token:
            try:
                start = int(base64.b64decode(token).decode())
            except (ValueError, UnicodeDecodeError):
                raise invalid_parameter("Invalid NextToken value.") from None
        limit = max_results or MAX_LIST_RESULTS
        page = items[start:start + limit]
        out: dict = {member: page} if page else {}
        if max_results is not None and start + limit < len(items):
            out["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return out

    async def get_queue_attributes(self, ctx, p):
        key, *_ = self._target(ctx, p)
        names = p.get("AttributeNames") or []
        for n in names:
            if n != "All" and n not in ALL_ATTRIBUTES:
                raise err("InvalidAttributeName", f"Unknown Attribute {n}.")
        attrs = await self._call(ctx, key, "sqs.GetQueueAttributes", {})
        if not names:
            return {}
        if "All" not in names:
            attrs = {k: v for k, v in attrs.items() if k in names}
        return {"Attributes": attrs} if attrs else {}

    async def set_queue_attributes(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        attrs = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        fifo = name.endswith(".fifo")
        attrs = qattrs.normalize(attrs, fifo=fifo, creating=False)
        if attrs.get("RedrivePolicy"):
            await self._check_redrive(ctx, attrs["RedrivePolicy"], fifo, f"arn:aws:sqs:{region}:{account}:{name}")
        self._check_fifo_limits(attrs)
        await self._call(ctx, key, "sqs.SetQueueAttributes", {"attrs": attrs})
        return {}

    async def purge_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.PurgeQueue", {})
        return {}

    async def tag_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        tags = p.get("Tags") or {}
        self._check_tags(tags)
        await self._call(ctx, key, "sqs.TagQueue", {"tags": tags})
        return {}

    async def untag_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.UntagQueue", {"keys": p.get("TagKeys") or []})
        return {}

    async def list_queue_tags(self, ctx, p):
        key, *_ = self._target(ctx, p)
        tags = await self._call(ctx, key, "sqs.ListQueueTags", {})
        return {"Tags": tags} if tags else {}

    async def add_permission(self, ctx, p):
        key, *_ = self._target(ctx, p)
        label = p["Label"]
        if not _LABEL.match(label):
            raise invalid_value(label, "Label", "Can only include alphanumeric characters, hyphens, or underscores. "
                                "1 to 80 in length")
        accounts, actions = p.get("AWSAccountIds") or [], p.get("Actions") or []
        if not accounts:
            raise missing_parameter("AWSAccountIds")
        if not actions:
            raise missing_parameter("Actions")
        for a in actions:
            if a not in _ACTIONS:
                raise invalid_value(a, "ActionName", "Please refer to the appropriate WSDL for a list of valid "
                                    "actions.")
        await self._call(ctx, key, "sqs.Permission", {"add": True, "label": label, "accounts": accounts,
                                                       "actions": actions})
        return {}

    async def remove_permission(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.Permission", {"add": False, "label": p["Label"]})
        return {}

    async def list_dead_letter_source_queues(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        if await self._call(ctx, key, "sqs.GetQueue", {}) is None:
            raise queue_does_not_exist()
        arn = f"arn:aws:sqs:{region}:{account}:{name}"
        results = await ctx.cluster.call_all("sqs.ListDeadLetterSourceQueues", {"arn": arn})
        sources = sorted((acct, n) for _p, rows in results for acct, n in rows)
        urls = [self._url(ctx, acct, n) for acct, n in sources]
        out = self._paginate(urls, p, "queueUrls")
        out.setdefault("queueUrls", [])
        return out

    # -- messages -----------------------------------------------------------
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
            if fifo:
                raise invalid_value(delay, "DelaySeconds", "The request include parameter that is not valid for "
                                    "this queue type")
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
        md5_body = md5_hex(raw)
        md5_attrs = md5_of_attributes(attrs) if attrs else None
        md5_sys = md5_of_attributes(sys_attrs) if sys_attrs else None
        sender = ctx.account_id if ctx.principal_arn.endswith(":root") else ctx.access_key
        sha = hashlib.sha256(raw).hexdigest() if fifo and dedup is None else None
        msg_id = _msg_id()
        payload = encode_payload(body, attrs, sys_attrs, md5_body, md5_attrs, md5_sys, sender, now_ms,
                                 group, dedup)
        resp = {"MD5OfMessageBody": md5_body}
        if md5_attrs:
            resp["MD5OfMessageAttributes"] = md5_attrs
        if md5_sys:
            resp["MD5OfMessageSystemAttributes"] = md5_sys
        return [payload, size, msg_id, delay, group if fifo else None, dedup, sha], resp

    async def send_message(self, ctx, p):
        key, _r, _a, name = self._target(ctx, p)
        fifo = name.endswith(".fifo")
        entry, resp = self._entry(ctx, fifo, p, int(time.time() * 1000))
        (res,) = await self._call(ctx, key, "sqs.SendMessages", {"m": [entry]})
        if res[0] == "e":
            raise err(res[1], res[2])
        resp["MessageId"] = res[1]
        if res[2]:
            resp["SequenceNumber"] = res[2]
        return resp

    async def send_message_batch(self, ctx, p):
        key, _r, _a, name = self._target(ctx, p)
        entries = p.get("Entries") or []
        self._check_batch(entries, "SendMessageBatchRequestEntry")
        fifo = name.endswith(".fifo")
        now = int(time.time() * 1000)
        total = 0
        ok_entries, ok_resp, failed = [], [], []
        for e in entries:
            body = e.get("MessageBody") or ""
            total += len(body.encode())
            for k, v in (e.get("MessageAttributes") or {}).items():
                total += len(k.encode()) + len((v.get("DataType") or "").encode()) + len(
                    (v.get("StringValue") or "").encode()) + len(v.get("BinaryValue") or b"")
        if total > MAX_BATCH_BYTES:
            raise err("BatchRequestTooLong", f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                      f"You have sent {total} bytes.")
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
            results = await self._call(ctx, key, "sqs.SendMessages", {"m": ok_entries})
            for resp, res in zip(ok_resp, results):
                if res[0] == "e":
                    failed.append({"Id": resp["Id"], "SenderFault": True, "Code": res[1], "Message": res[2]})
                    continue
                resp["MessageId"] = res[1]
                if res[2]:
                    resp["SequenceNumber"] = res[2]
                successful.append(resp)
        return {"Successful": successful, "Failed": failed}

    async def receive_message(self, ctx, p):
        key, *_ = self._target(ctx, p)
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
            return {}
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
        key, *_ = self._target(ctx, p)
        handle = p.get("ReceiptHandle")
        if not handle:
            raise missing_parameter("ReceiptHandle")
        (res,) = await self._call(ctx, key, "sqs.DeleteMessages", {"h": [handle]})
        if res[0] == "e":
            raise err(res[1], res[2])
        return {}

    async def delete_message_batch(self, ctx, p):
        key, *_ = self._target(ctx, p)
        entries = p.get("Entries") or []
        self._check_batch(entries, "DeleteMessageBatchRequestEntry")
        results = await self._call(ctx, key, "sqs.DeleteMessages", {"h": [e["ReceiptHandle"] for e in entries]})
        return self._batch_result(entries, results)

    @staticmethod
    def _batch_result(entries, results) -> dict:
        ok, failed = [], []
        for e, res in zip(entries, results):
            if res[0] == "e":
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": res[1], "Message": res[2]})
            else:
                ok.append({"Id": e["Id"]})
        return {"Successful": ok, "Failed": failed}

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

    # -- message move tasks -------------------------------------------------
    async def start_message_move_task(self, ctx, p):
        source = p["SourceArn"]
        parsed = parse_arn(source)
        if parsed is None:
            raise invalid_value(source, "SourceArn", "Invalid value for SourceArn.")
        key = entity_key(*parsed)
        info = await ctx.cluster.call(key, "sqs.GetQueue", {"k": key})
        if info is None:
            raise err("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter "
                      "doesn't exist.", 404)
        results = await ctx.cluster.call_all("sqs.ListDeadLetterSourceQueues", {"arn": source})
        if not any(rows for _p, rows in results):
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        dest = p.get("DestinationArn")
        if dest:
            dparsed = parse_arn(dest)
            if dparsed is None:
                raise invalid_value(dest, "DestinationArn", "Invalid value for DestinationArn.")
            dkey = entity_key(*dparsed)
            if await ctx.cluster.call(dkey, "sqs.GetQueue", {"k": dkey}) is None:
                raise err("ResourceNotFoundException", "The resource that you specified for the DestinationArn "
                          "parameter doesn't exist.", 404)
        rate = p.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= 500:
            raise invalid_value(rate, "MaxNumberOfMessagesPerSecond", "Must be between 1 and 500.")
        return await ctx.cluster.call(key, "sqs.StartMessageMoveTask", {"k": key, "dest": dest, "rate": rate})

    async def list_message_move_tasks(self, ctx, p):
        source = p["SourceArn"]
        parsed = parse_arn(source)
        if parsed is None:
            raise invalid_value(source, "SourceArn", "Invalid value for SourceArn.")
        max_results = p.get("MaxResults")
        if max_results is not None and not 1 <= max_results <= 10:
            raise invalid_value(max_results, "MaxResults", "Must be between 1 and 10.")
        key = entity_key(*parsed)
        if await ctx.cluster.call(key, "sqs.GetQueue", {"k": key}) is None:
            raise err("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter "
                      "doesn't exist.", 404)
        rows = await ctx.cluster.call(key, "sqs.ListMessageMoveTasks", {"k": key, "max": max_results})
        return {"Results": rows}

    async def cancel_message_move_task(self, ctx, p):
        parsed = parse_task_handle(p["TaskHandle"])
        if parsed is None:
            raise err("ResourceNotFoundException", "Task does not exist.", 404)
        key = parsed[0]
        return await ctx.cluster.call(key, "sqs.CancelMessageMoveTask", {"k": key, "handle": p["TaskHandle"]})
