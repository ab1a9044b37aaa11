"""SQS event-source mappings: pollers that feed a queue's messages to a function.

A mapping is one record (kind ``lambda.esm``) in the partition of
``lambda-esm/<uuid>``; while it is Enabled that shard runs its pollers (up to
``ScalingConfig.MaximumConcurrency``, default 5: one task per poller, never
one per message). A poller long-polls the queue through the SQS API, gathers
a batch (BatchSize, MaximumBatchingWindowInSeconds), drops and deletes the
messages no filter matches (FilterCriteria, in the event-pattern language of
broker/core/eventpattern, as AWS does), invokes the function through the
Lambda API and deletes what succeeded: everything, or everything but the
``batchItemFailures`` of a ReportBatchItemFailures response. Failed messages
are left to their visibility timeout, so the queue's redrive policy moves
them to its DLQ after maxReceiveCount, and a FIFO queue keeps their group
in order (SQS hands a group's next messages out only after these).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from broker.core.eventpattern import EventPattern, InvalidPattern
from broker.core.ids import uuid4
from services.awslambda.model import arn_parts, invalid, not_found

log = logging.getLogger("broker.lambda")

K_ESM = "lambda.esm"
DEFAULT_POLLERS = 5


def esm_key(uuid: str) -> str:
    return f"lambda-esm/{uuid}"


def compile_filters(criteria: dict | None) -> list[EventPattern]:
    out = []
    for f in (criteria or {}).get("Filters") or ():
        try:
            out.append(EventPattern(f.get("Pattern") or "{}"))
        except InvalidPattern as exc:
            raise invalid(f"Invalid filter pattern definition. {getattr(exc, 'reason', exc)}") from None
    return out


def _record(m: dict, arn: str, region: str) -> dict:
    attrs = dict(m.get("Attributes") or {})
    mattrs = {}
    for k, v in (m.get("MessageAttributes") or {}).items():
        e = {"stringListValues": [], "binaryListValues": [], "dataType": v.get("DataType")}
        if "StringValue" in v:
            e["stringValue"] = v["StringValue"]
        if "BinaryValue" in v:
            import base64
            e["binaryValue"] = base64.b64encode(v["BinaryValue"]).decode()
        mattrs[k] = e
    rec = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m.get("Body", ""),
           "attributes": attrs, "messageAttributes": mattrs, "md5OfBody": m.get("MD5OfBody"),
           "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region}
    if m.get("MD5OfMessageAttributes"):
        rec["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
    return rec


def _matches(filters: list[EventPattern], rec: dict) -> bool:
    if not filters:
        return True
    doc = dict(rec)
    try:
        body = json.loads(rec["body"])
        if isinstance(body, (dict, list)):
            doc["body"] = body
    except ValueError:
        pass
    return any(f.matches(doc) for f in filters)


class EventSourceMappings:
    def __init__(self, shard):
        self.shard = shard
        self.store = shard.store
        self.recs: dict[str, dict] = dict(self.store.scan(K_ESM))
        self.tasks: dict[str, list[asyncio.Task]] = {}
        self.closed = False
        for uuid in self.recs:
            shard.part.after_commit(lambda u=uuid: self._start(u))

    def close(self) -> None:
        self.closed = True
        for tasks in self.tasks.values():
            for t in tasks:
                t.cancel()
        self.tasks.clear()

    # -- API (records) -----------------------------------------------------------------------
    def view(self, rec: dict, state: str | None = None) -> dict:
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        if state:
            out["State"] = state
        return out

    def _get(self, a) -> dict:
        rec = self.recs.get(a["q"]["UUID"])
        if rec is None:
            raise not_found("The resource you requested does not exist.")
        return rec

    def _Create(self, a):
        p = a["q"]
        uuid = a["uuid"]
        rec = {"UUID": uuid, "BatchSize": p.get("BatchSize") or 10,
               "MaximumBatchingWindowInSeconds": p.get("MaximumBatchingWindowInSeconds") or 0,
               "EventSourceArn": p["EventSourceArn"], "FunctionArn": a["fn"], "LastModified": time.time(),
               "LastProcessingResult": "No records processed", "State": "Enabled" if p.get("Enabled", True) else "Disabled",
               "StateTransitionReason": "USER_INITIATED", "FunctionResponseTypes": p.get("FunctionResponseTypes") or [],
               "EventSourceMappingArn": f"arn:aws:lambda:{a['r']}:{a['a']}:event-source-mapping:{uuid}",
               "_a": a["a"], "_r": a["r"]}
        for k in ("FilterCriteria", "ScalingConfig", "MetricsConfig"):
            if p.get(k):
                rec[k] = p[k]
        compile_filters(rec.get("FilterCriteria"))
        self.recs[uuid] = rec
        self.store.put(K_ESM, uuid, rec)
        self.shard.part.after_commit(lambda: self._start(uuid))
        return self.view(rec, "Creating")

    def _Get(self, a):
        return self.view(self._get(a))

    def _Update(self, a):
        rec = self._get(a)
        p = a["q"]
        for k in ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "FilterCriteria",
                  "ScalingConfig", "MetricsConfig"):
            if k in p:
                rec[k] = p[k]
        if a.get("fn"):
            rec["FunctionArn"] = a["fn"]
        if "Enabled" in p:
            rec["State"] = "Enabled" if p["Enabled"] else "Disabled"
        compile_filters(rec.get("FilterCriteria"))
        rec["LastModified"] = time.time()
        self.store.put(K_ESM, rec["UUID"], rec)
        uuid = rec["UUID"]
        self._stop(uuid)
        self.shard.part.after_commit(lambda: self._start(uuid))
        return self.view(rec, "Updating")

    def _Delete(self, a):
        rec = self._get(a)
        del self.recs[rec["UUID"]]
        self.store.delete(K_ESM, rec["UUID"])
        self._stop(rec["UUID"])
        return self.view(rec, "Deleting")

    def list(self, a) -> list:
        src, fn = a.get("src"), a.get("fn")
        return [self.view(r) for r in self.recs.values()
                if r["_a"] == a["a"] and r["_r"] == a["r"] and (not src or r["EventSourceArn"] == src)
                and (not fn or r["FunctionArn"] == fn or r["FunctionArn"].startswith(fn + ":"))]

    # -- pollers ----------------------------------------------------------------------------------
    def _start(self, uuid: str) -> None:
        rec = self.recs.get(uuid)
        if self.closed or rec is None or rec["State"] != "Enabled" or uuid in self.tasks:
            return
        n = min(DEFAULT_POLLERS, (rec.get("ScalingConfig") or {}).get("MaximumConcurrency") or DEFAULT_POLLERS)
        loop = asyncio.get_running_loop()
        self.tasks[uuid] = [loop.create_task(self._poll(uuid)) for _ in range(n)]

    def _stop(self, uuid: str) -> None:
        for t in self.tasks.pop(uuid, ()):
            t.cancel()

    async def _poll(self, uuid: str) -> None:
        from services.internal import caller
        c = caller(self.shard.host)
        backoff = 0.5
        while not self.closed:
            rec = self.recs.get(uuid)
            if rec is None or rec["State"] != "Enabled":
                return
            try:
                await self._one_batch(c, rec)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                rec["LastProcessingResult"] = f"PROBLEM: {getattr(exc, 'message', None) or exc}"[:256]
                log.info("event=lambda_esm_poll_failed uuid=%s error=%s", uuid, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _one_batch(self, c, rec: dict) -> None:
        _svc, region, account, name = arn_parts(rec["EventSourceArn"])
        url = f"http://{c.netloc}/queue/{region}/{account}/{name}"
        kw = {"account": account, "region": region}
        size = rec["BatchSize"]
        window = rec["MaximumBatchingWindowInSeconds"] or 0
        msgs: list[dict] = []
        deadline = time.monotonic() + window
        while len(msgs) < size:
            left = deadline - time.monotonic()
            if msgs and (window == 0 or left <= 0):
                break
            wait = 20 if not msgs and window == 0 else max(0, min(20, int(left + 0.999)))
            out = await c.call("sqs", "ReceiveMessage", {
                "QueueUrl": url, "MaxNumberOfMessages": min(10, size - len(msgs)), "WaitTimeSeconds": wait,
                "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}, **kw)
            got = out.get("Messages") or []
            msgs.extend(got)
            if not got and window == 0 and not msgs:
                return
            if not got and left <= 0:
                break
        if not msgs:
            return
        records = [_record(m, rec["EventSourceArn"], region) for m in msgs]
        filters = compile_filters(rec.get("FilterCriteria"))
        keep = [r for r in records if _matches(filters, r)]
        dropped = [r for r in records if r not in keep]
        if dropped:
            await self._delete(c, url, kw, dropped)
        if not keep:
            return
        fa = arn_parts(rec["FunctionArn"])
        try:
            out = await c.call("lambda", "Invoke", {"FunctionName": rec["FunctionArn"],
                                                    "Payload": json.dumps({"Records": keep}).encode()},
                               account=fa[2], region=fa[1], source_arn=rec["EventSourceArn"])
        except Exception as exc:      # throttled, function gone: the batch comes back after its visibility timeout
            rec["LastProcessingResult"] = f"PROBLEM: {getattr(exc, 'message', None) or exc}"[:256]
            return
        if out.get("FunctionError"):
            rec["LastProcessingResult"] = "PROBLEM: Function call failed"
            return
        rec["LastProcessingResult"] = "OK"
        done = keep
        if "ReportBatchItemFailures" in rec["FunctionResponseTypes"]:
            failed = _item_failures(out.get("Payload"), keep)
            if failed is None:
                return                  # a malformed answer fails the whole batch, as at AWS
            done = [r for r in keep if r["messageId"] not in failed]
        await self._delete(c, url, kw, done)

    @staticmethod
    async def _delete(c, url: str, kw: dict, records: list[dict]) -> None:
        for i in range(0, len(records), 10):
            entries = [{"Id": str(j), "ReceiptHandle": r["receiptHandle"]} for j, r in enumerate(records[i:i + 10])]
            await c.call("sqs", "DeleteMessageBatch", {"QueueUrl": url, "Entries": entries}, **kw)


def _item_failures(payload, records: list[dict]) -> set | None:
    """The message ids a partial batch response names; None when it is malformed."""
    try:
        doc = json.loads(payload or b"null")
    except ValueError:
        return None
    if doc is None or doc == {} or doc == []:
        return set()
    if not isinstance(doc, dict):
        return set()
    items = doc.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    ids = {r["messageId"] for r in records}
    out = set()
    for it in items:
        ident = it.get("itemIdentifier") if isinstance(it, dict) else None
        if not ident or ident not in ids:
            return None
        out.add(ident)
    return out


def new_uuid() -> str:
    return uuid4()
