"""Asynchronous invocation (InvocationType=Event): durable, retried, with destinations.

An event is a delivery (kind ``lambda.async``) in the function's partition,
committed before the 202. Attempts run on that shard's environments. A
function error is retried ``MaximumRetryAttempts`` times (default 2; AWS
waits about 1 then 2 minutes: ``lambda.async_retry_delay`` and twice it) while
the event is younger than ``MaximumEventAgeInSeconds`` (default 6 hours); a
throttled attempt waits and does not count as a retry. Then:

- success -> the OnSuccess destination, if any;
- failure -> the OnFailure destination and the function's dead-letter queue
  (DeadLetterConfig), each if configured: kind ``lambda.failed`` builds the
  invocation record (AWS's shape) and hands it to ``lambda.dest``.

Destinations: SQS, SNS, Lambda (as an Event invocation) and EventBridge.
"""

from __future__ import annotations

import base64
import json
import time

from broker.core.ids import uuid4
from broker.runtime import sinks
from services.awslambda.model import LATEST, arn_parts, fn_arn
from services.errors import ServiceError

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21_600
THROTTLE_BACKOFF_MS = (1_000, 2_000, 5_000, 10_000, 30_000, 60_000)


def _eic(rec: dict, q: str | None) -> dict:
    return rec["eic"].get(q or LATEST) or {}


def submit(shard, key: str, rec: dict, a: dict) -> str:
    rid = a.get("rid") or uuid4()
    target = {"k": key, "n": rec["n"], "a": rec["a"], "r": rec["r"], "q": a.get("q")}
    body = {"p": a["pl"], "rid": rid, "tr": a.get("tr"), "t0": shard.part.now_ms(), "thr": 0}
    _submit(shard, target, body, rec, 0)
    return rid


def _submit(shard, target: dict, body: dict, rec: dict, delay_ms: int) -> None:
    eic = _eic(rec, target["q"])
    retries = eic.get("MaximumRetryAttempts", DEFAULT_RETRIES)
    max_age = eic.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
    first = float(shard.config.get("lambda.async_retry_delay", 60.0))
    pol = sinks.policy(backoff=(retries, first, 2 * first, "exponential"), max_age_s=max_age)
    target = {**target, "retries": retries, "max_age": max_age}
    sinks.deliveries(shard.part).submit("lambda.async", target, body, policy=pol,
                                        dlq={"kind": "lambda.failed", "target": target}, delay_ms=delay_ms)


async def deliver(d: sinks.Delivery) -> None:
    """One attempt of an asynchronous invocation."""
    shard = d.partition.services["lambda"]
    t, body = d.target, d.body
    rec = shard.fns.get(t["k"])
    if rec is None:
        return                                    # the function is gone: nothing left to run
    now = shard.part.now_ms()
    if now - body["t0"] > t["max_age"] * 1000:
        raise sinks.Failed(json.dumps({"cond": "EventAgeExceeded"}), False, "EventAgeExceeded")
    try:
        version, cfg, code = shard.resolve(rec, t["q"], route=True)
    except ServiceError:
        return
    try:
        token = await shard.pools.admit(t["k"], rec)
    except ServiceError:                           # throttled: wait, not counted as a retry
        n = body["thr"]
        _submit(shard, {k: v for k, v in t.items() if k not in ("retries", "max_age")},
                {**body, "thr": n + 1}, rec, THROTTLE_BACKOFF_MS[min(n, len(THROTTLE_BACKOFF_MS) - 1)])
        return
    try:
        result, _tail = await shard.execute(t["k"], rec, version, cfg, code, t["q"], body["p"], body.get("tr"),
                                            None, False, body["rid"])
    finally:
        shard.pools.release(token)
    if result.error:
        raise sinks.Failed(json.dumps({"cond": "RetriesExhausted", "fe": result.error, "v": version,
                                       "p": result.payload.decode("utf-8", "replace")}), True, "FunctionError")
    dest = ((_eic(rec, t["q"]).get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
    if dest:
        record = _record(t, body, version, "Success", None, result.payload.decode("utf-8", "replace"), d.attempt)
        sinks.deliveries(shard.part).submit("lambda.dest", {"arn": dest, "a": t["a"], "r": t["r"], "ok": True,
                                                            "fn": t["n"]}, record)


def _record(t, body, version, condition, fe, response, attempts) -> dict:
    rc = {"requestId": body["rid"], "functionArn": fn_arn(t["r"], t["a"], t["n"], t["q"] or LATEST),
          "condition": condition, "approximateInvokeCount": attempts}
    try:
        request = json.loads(body["p"] or b"null")
    except ValueError:
        request = body["p"].decode("utf-8", "replace")
    out = {"version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) +
           f".{int(time.time() * 1000) % 1000:03d}Z", "requestContext": rc, "requestPayload": request,
           "responseContext": {"statusCode": 200, "executedVersion": version}}
    if fe:
        out["responseContext"]["functionError"] = fe
    if response is not None:
        try:
            out["responsePayload"] = json.loads(response) if response else None
        except ValueError:
            out["responsePayload"] = response
    return out


async def failed(d: sinks.Delivery) -> None:
    """Retries exhausted (or the event too old): failure destination and DLQ."""
    shard = d.partition.services["lambda"]
    t, body = d.target, d.body
    info = (d.meta or {}).get("error") or {}
    try:
        detail = json.loads(info.get("reason") or "{}")
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    cond = detail.get("cond") or ("EventAgeExceeded" if info.get("code") == "EventAgeExceeded" else "RetriesExhausted")
    rec = shard.fns.get(t["k"])
    if rec is None:
        return
    eic = _eic(rec, t["q"])
    dest = ((eic.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    attempts = info.get("attempts") or 1
    deliveries = sinks.deliveries(shard.part)
    if dest:
        record = _record(t, body, detail.get("v", LATEST), cond, detail.get("fe"), detail.get("p"),
                         attempts if cond == "RetriesExhausted" else attempts - 1)
        deliveries.submit("lambda.dest", {"arn": dest, "a": t["a"], "r": t["r"], "ok": False, "fn": t["n"]}, record)
    dlq = (rec["cfg"].get("DeadLetterConfig") or {}).get("TargetArn")
    if dlq:
        message = detail.get("p") or ""
        try:
            err_doc = json.loads(message) if message else {}
        except ValueError:
            err_doc = {}
        deliveries.submit("lambda.dest", {"arn": dlq, "a": t["a"], "r": t["r"], "dlq": True, "fn": t["n"],
                                          "rid": body["rid"], "msg": str(err_doc.get("errorMessage", ""))[:256]},
                          base64.b64encode(body["p"] or b"").decode())


async def deliver_destination(d: sinks.Delivery) -> None:
    """Send an invocation record (or, for a DLQ, the original event) to its destination."""
    from services.internal import caller
    t = d.target
    svc, region, account, res = arn_parts(t["arn"])
    c = caller(d.partition.shard)
    src = fn_arn(t["r"], t["a"], t["fn"])
    kw = {"account": account or t["a"], "region": region or t["r"], "source_arn": src}
    if t.get("dlq"):
        text = base64.b64decode(d.body).decode("utf-8", "replace")
        attrs = {"RequestID": {"DataType": "String", "StringValue": t["rid"]},
                 "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                 "ErrorMessage": {"DataType": "String", "StringValue": t["msg"] or "Unhandled"}}
    else:
        text = json.dumps(d.body)
        attrs = None
    try:
        if svc == "sqs":
            params = {"QueueUrl": f"http://{c.netloc}/{kw['account']}/{res}", "MessageBody": text}
            if attrs:
                params["MessageAttributes"] = attrs
            await c.call("sqs", "SendMessage", params, **kw)
        elif svc == "sns":
            params = {"TopicArn": t["arn"], "Message": text}
            if attrs:
                params["MessageAttributes"] = attrs
            await c.call("sns", "Publish", params, **kw)
        elif svc == "lambda":
            await c.call("lambda", "Invoke", {"FunctionName": t["arn"], "InvocationType": "Event",
                                              "Payload": text.encode()}, **kw)
        elif svc == "events":
            dt = "Lambda Function Invocation Result - " + ("Success" if t.get("ok") else "Failure")
            await c.call("events", "PutEvents", {"Entries": [{"Source": "lambda", "DetailType": dt, "Detail": text,
                                                              "EventBusName": t["arn"], "Resources": [src]}]}, **kw)
        else:
            raise sinks.Failed(f"Destination {t['arn']} is not supported", False, "InvalidDestination")
    except sinks.Failed:
        raise
    except Exception as exc:
        code = getattr(exc, "code", "")
        gone = code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NotFound",
                        "ResourceNotFoundException", "NotFoundException")
        raise sinks.Failed(f"{code or type(exc).__name__}: {getattr(exc, 'message', exc)}", not gone,
                           code) from None


sinks.register_kind("lambda.async", deliver)
sinks.register_kind("lambda.failed", failed)
sinks.register_kind("lambda.dest", deliver_destination)
