"""``GET /_broker/wait?for=KIND&...&timeout=S``: answer as soon as a condition
holds (200), or 408 when ``timeout`` seconds (default 10, at most
`MAX_TIMEOUT`) pass first. Tests call this instead of sleeping.

    for=sqs           queue=<URL or name> [account= region=] [attribute=visible|inflight|delayed|total]
                      [count=N | min=N max=N]   (default min=1): the queue's approximate count
    for=ses           the SES mailbox filters (to= from= subject= text= id= account= region= ...):
                      a mail matching them (the mailbox's own long poll, event-driven)
    for=stepfunctions execution=<executionArn> [status=SUCCEEDED,...] (default: any final status);
                      409 when it ended in another final status
    for=http          name=<capture name> [count=N] [text= method=]: requests captured at
                      /_capture/<name> (event-driven, see capture.py)
    for=sns           record=sms|email|push [phoneNumber= | email= | endpointArn=] [text=] [count=N]
                      [account= region=]: deliveries SNS recorded (what /_broker/sns/... lists)

Conditions a service can wake are event-driven (SES mail, captures); the rest
are polled inside the gateway every 10 to 100 ms, never by the client.
A 200 or 408 body names the condition and its last observed value.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from broker.runtime.ipc import RemoteError
from services.errors import ServiceError

AWS_ERRORS = (ServiceError, RemoteError)   # raised here, or by the owning shard

MAX_TIMEOUT = 120.0
DEFAULT_TIMEOUT = 10.0
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
SQS_ATTRIBUTES = {"visible": ("ApproximateNumberOfMessages",),
                  "inflight": ("ApproximateNumberOfMessagesNotVisible",),
                  "delayed": ("ApproximateNumberOfMessagesDelayed",),
                  "total": ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed")}
SNS_RECORDS = {"sms": ("sms", "phoneNumber", "PhoneNumber"), "push": ("push", "endpointArn", "TargetArn"),
               "email": ("email", "email", "Endpoint")}


class Answer(Exception):
    """Stop waiting and answer now (a condition that can no longer hold, bad input)."""

    def __init__(self, status: int, doc: dict):
        super().__init__(doc.get("error", ""))
        self.status, self.doc = status, doc


def _json(status: int, doc) -> tuple:
    return status, "application/json", json.dumps(doc, default=str).encode()


def _bad(msg: str) -> Answer:
    return Answer(400, {"error": msg})


def _int(q: dict, name: str, default: int | None = None) -> int | None:
    raw = q.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad(f"{name}: not an integer: {raw}") from None


def _aws_error(exc) -> Answer:
    status = exc.status if exc.status in (400, 403, 404) else 400
    if "NotExist" in exc.code or "NotFound" in exc.code:
        status = 404
    return Answer(status, {"error": exc.code, "message": str(exc)})


async def poll(check, timeout: float) -> tuple[bool, object]:
    """Run `check()` -> (done, value) until done or `timeout`; 10 ms growing to 100 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    while True:
        done, value = await check()
        left = deadline - loop.time()
        if done or left <= 0:
            return done, value
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 1.5, 0.1)


def _where(gateway, q: dict, region: str | None = None, account: str | None = None) -> tuple[str, str]:
    config = gateway.config
    return (q.get("account") or account or config.get("aws.default_account", "000000000000"),
            q.get("region") or region or config.get("aws.default_region", "us-east-1"))


# -- the conditions ---------------------------------------------------------------------

async def wait_sqs(gateway, q: dict, timeout: float) -> tuple[int, dict]:
    from services.internal import caller
    from services.sqs.urls import parse_queue_url
    queue = q.get("queue") or q.get("queueUrl") or q.get("QueueUrl")
    if not queue:
        raise _bad("queue is required (a queue URL, or a name with account and region)")
    which = q.get("attribute") or "visible"
    if which not in SQS_ATTRIBUTES:
        raise _bad(f"attribute: one of {', '.join(SQS_ATTRIBUTES)}")
    count = _int(q, "count")
    lo = _int(q, "min", count if count is not None else (None if q.get("max") else 1))
    hi = _int(q, "max", count)
    try:
        region, account, _name = parse_queue_url(queue)
    except ServiceError as exc:
        raise _aws_error(exc) from None
    account, region = _where(gateway, q, region, account or None)
    params = {"QueueUrl": queue, "AttributeNames": list(SQS_ATTRIBUTES["total"])}
    sqs = caller(gateway)

    async def check():
        try:
            attrs = (await sqs.call("sqs", "GetQueueAttributes", params, account=account,
                                    region=region)).get("Attributes", {})
        except AWS_ERRORS as exc:
            raise _aws_error(exc) from None
        value = sum(int(attrs.get(a, 0)) for a in SQS_ATTRIBUTES[which])
        ok = (lo is None or value >= lo) and (hi is None or value <= hi)
        return ok, {"value": value, "attributes": attrs}

    done, seen = await poll(check, timeout)
    return (200 if done else 408), {"queue": queue, "attribute": which, "min": lo, "max": hi, **seen}


async def wait_stepfunctions(gateway, q: dict, timeout: float) -> tuple[int, dict]:
    from services.internal import caller
    arn = q.get("execution") or q.get("executionArn")
    if not arn:
        raise _bad("execution is required (an execution ARN)")
    parts = arn.split(":")
    if len(parts) < 8 or parts[2] != "states":
        raise _bad(f"execution: not an execution ARN: {arn}")
    wanted = [s.strip().upper() for s in (q.get("status") or ",".join(FINAL)).split(",") if s.strip()]
    sfn = caller(gateway)

    async def check():
        try:
            doc = await sfn.call("stepfunctions", "DescribeExecution", {"executionArn": arn},
                                 account=parts[4], region=parts[3])
        except AWS_ERRORS as exc:
            raise _aws_error(exc) from None
        status = doc.get("status")
        if status in wanted:
            return True, doc
        if status in FINAL:
            raise Answer(409, {"error": f"execution ended {status}, not {' or '.join(wanted)}",
                               "status": status, "execution": doc})
        return False, doc

    done, doc = await poll(check, timeout)
    return (200 if done else 408), {"status": doc.get("status"), "execution": doc}


async def wait_ses(gateway, q: dict, timeout: float) -> tuple[int, dict]:
    from services.ses import admin as ses_admin   # the mailbox's own long poll
    query = {k: v for k, v in q.items() if k not in ("for", "timeout")}
    query["timeout"] = str(timeout)
    status, _ctype, body = await ses_admin.handle(gateway, "GET", "/_broker/ses/messages/wait", query, {}, b"")
    doc = json.loads(body)
    if status == 200:
        return 200, {"message": doc.get("message")}
    if status == 404 and "message" in doc:
        return 408, {"message": None}
    raise Answer(status, doc)


async def wait_http(gateway, q: dict, timeout: float) -> tuple[int, dict]:
    from services.testkit.capture import capture_key
    name = q.get("name")
    if not name:
        raise _bad("name is required (the capture name of /_capture/<name>)")
    cq = {"count": _int(q, "count", 1), "text": q.get("text"), "method": q.get("method")}
    key = capture_key(name)
    wait_id = f"{getattr(gateway, 'index', 0)}-{uuid.uuid4().hex}"
    try:
        r = await gateway.cluster.call(key, "testkit.Wait", {"name": name, "q": cq, "timeout": timeout,
                                                             "wait_id": wait_id})
    except asyncio.CancelledError:
        await gateway.cluster.call(key, "testkit.CancelWait", {"wait_id": wait_id})
        raise
    return (200 if r.get("requests") is not None else 408), {"name": name, **r}


async def wait_sns(gateway, q: dict, timeout: float) -> tuple[int, dict]:
    kind = q.get("record")
    if kind not in SNS_RECORDS:
        raise _bad(f"record: one of {', '.join(SNS_RECORDS)}")
    what, param, field = SNS_RECORDS[kind]
    account, region = _where(gateway, q)
    match = {field: q[param]} if q.get(param) else None
    count, text = _int(q, "count", 1), (q.get("text") or "").lower()
    args = {"what": what, "account": account, "region": region, "match": match, "delete": False}

    async def check():
        found = [doc for _p, part in await gateway.cluster.call_all("sns.Records", args) for _k, doc in part
                 if not text or text in json.dumps(doc).lower()]
        return len(found) >= count, found

    done, found = await poll(check, timeout)
    return (200 if done else 408), {"record": kind, "count": len(found), "deliveries": found}


CONDITIONS = {"sqs": wait_sqs, "ses": wait_ses, "stepfunctions": wait_stepfunctions, "http": wait_http,
              "sns": wait_sns}


async def handle(gateway, q: dict) -> tuple:
    kind = q.get("for")
    fn = CONDITIONS.get(kind or "")
    if fn is None:
        return _json(400, {"error": f"for: one of {', '.join(CONDITIONS)} (got {kind!r})"})
    try:
        timeout = float(q.get("timeout") or DEFAULT_TIMEOUT)
    except ValueError:
        return _json(400, {"error": f"timeout: not a number: {q.get('timeout')}"})
    if not 0 <= timeout <= MAX_TIMEOUT:
        return _json(400, {"error": f"timeout: between 0 and {MAX_TIMEOUT:g} seconds"})
    try:
        status, doc = await fn(gateway, q, timeout)
    except Answer as a:
        return _json(a.status, {"for": kind, "satisfied": False, **a.doc})
    if status == 408:
        doc = {"error": f"condition not met within {timeout:g} s", **doc}
    return _json(status, {"for": kind, "satisfied": status == 200, **doc})
