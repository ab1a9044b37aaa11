"""Delivery kinds: a rule's target invoked, and a failed one dead-lettered.

``events.target`` calls the target service the way AWS does (through that
service's API, services/internal.py), or an API destination over HTTP with
its connection's authorization. Failures are sorted as EventBridge sorts
them: a missing resource or a permission error is final (straight to the
dead-letter queue), throttling and server errors are retried under the
target's RetryPolicy. Targets that take a role (Step Functions, another
bus, API destinations) are called as a session of their ``RoleArn`` when IAM
is enforced (a bus named without one: its policy must admit the rule's
account); SQS, SNS and Lambda targets as events.amazonaws.com against
their resource policies. ``events.dlq`` writes the event to the SQS
dead-letter queue with the attributes AWS sets (RULE_ARN, TARGET_ARN,
ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import urlencode

from broker.runtime import sinks, telemetry
from services.errors import ServiceError
from services.internal import caller

from .names import bus_key, ns_key
from .publish import NAMESPACE

# arn -> (monotonic expiry, {"dest": ..., "conn": ..., "rate": ...})
destination_cache: dict[str, tuple[float, dict]] = {}
_tokens: dict[str, tuple[float, str]] = {}      # connection arn -> (expiry, bearer token)
DESTINATION_TTL = 5.0

_NOT_FOUND = ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NotFound", "NotFoundException",
              "ResourceNotFoundException", "StateMachineDoesNotExist", "TopicNotFound")
_SERVICE_NAMES = {"sqs": "AmazonSQS", "sns": "AmazonSNS", "states": "AWSStepFunctions", "lambda": "AWSLambda",
                  "events": "AmazonEventBridge"}


def failure(exc: ServiceError, svc: str) -> sinks.Failed:
    """A target service error as a delivery failure, sorted the way EventBridge sorts them."""
    code = exc.code or "InternalFailure"
    status = getattr(exc, "status", 400) or 400
    text = (f"{exc.message} (Service: {_SERVICE_NAMES.get(svc, svc)}; Status Code: {status}; Error Code: {code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)")
    if code in _NOT_FOUND or code.endswith("NotFound") or code.endswith("DoesNotExist"):
        return sinks.Failed(text, False, "NO_RESOURCE", status)
    if code.startswith("AccessDenied") or code in ("AuthorizationError", "KMSAccessDeniedException"):
        return sinks.Failed(text, False, "NO_PERMISSIONS", status)
    if "Throttl" in code or code in ("TooManyRequestsException", "RequestThrottled"):
        return sinks.Failed(text, True, "THROTTLING", status)
    if code == "NotImplemented":
        return sinks.Failed(text, False, "SDK_CLIENT_ERROR", status)
    if status >= 500:
        return sinks.Failed(text, True, "SDK_CLIENT_ERROR", status)
    return sinks.Failed(text, False, "INVALID_PARAMETER" if "Invalid" in code or "Validation" in code
                        else "SDK_CLIENT_ERROR", status)


def _queue_url(c, account: str, name: str) -> str:
    return f"http://{c.netloc}/{account}/{name}"


async def deliver_target(d: sinks.Delivery) -> None:
    t, body, meta = d.target, d.body, d.meta
    svc, res = t["svc"], t["res"]
    dims = {"RuleName": meta.get("rn", "")}
    telemetry.metric(NAMESPACE, "InvocationAttempts", dims, 1, account=t["a"], region=t["r"])
    if d.attempt > 1:
        telemetry.metric(NAMESPACE, "RetryInvocationAttempts", dims, 1, account=t["a"], region=t["r"])
    try:
        await _invoke(d, t, body, meta, svc, res)
    except sinks.Failed as exc:
        if not exc.retryable:
            telemetry.metric(NAMESPACE, "FailedInvocations", dims, 1, account=t["a"], region=t["r"])
        raise
    telemetry.metric(NAMESPACE, "Invocations", dims, 1, account=t["a"], region=t["r"])
    telemetry.metric(NAMESPACE, "SuccessfulInvocationAttempts", dims, 1, account=t["a"], region=t["r"])


async def _invoke(d, t: dict, body: dict, meta: dict, svc: str, res: str) -> None:
    payload = body["p"]
    host = d.partition.shard
    c = caller(host)
    ta, tr = t["ta"], t["tr"]
    trace = meta.get("trace")
    kw = {"account": ta, "region": tr, "source_arn": t["rule"], "trace_header": trace}
    try:
        if svc == "sqs":
            params = {"QueueUrl": _queue_url(c, ta, res), "MessageBody": payload}
            if res.endswith(".fifo"):
                params["MessageGroupId"] = t.get("group") or "default"
                params["MessageDeduplicationId"] = meta.get("eid") or d.id
            await c.call("sqs", "SendMessage", params, **kw)
        elif svc == "sns":
            params = {"TopicArn": t["arn"], "Message": payload}
            if res.endswith(".fifo"):
                params["MessageGroupId"] = t.get("group") or "default"
                params["MessageDeduplicationId"] = meta.get("eid") or d.id
            await c.call("sns", "Publish", params, **kw)
        elif svc == "states":       # through the target's role (SQS, SNS, Lambda: their resource policies)
            await c.call("stepfunctions", "StartExecution", {"stateMachineArn": t["arn"], "input": payload},
                         role_arn=t.get("role"), **kw)
        elif svc == "lambda":
            await c.call("lambda", "Invoke", {"FunctionName": t["arn"], "InvocationType": "Event",
                                              "Payload": payload.encode()}, **kw)
        elif svc == "events" and res.startswith("event-bus/"):
            # with a RoleArn: as a session of the role; without: the target bus's policy must
            # admit the rule's account (AWS's older cross-account model)
            ev = body.get("ev") if isinstance(body.get("ev"), dict) else {}
            await c.authorize("events", "PutEvents", {"Entries": [{
                "EventBusName": t["arn"], "Source": ev.get("source"), "DetailType": ev.get("detail-type")}]},
                account=ta, region=tr, source_arn=t["rule"], role_arn=t.get("role"))
            await _forward(d, t, body, meta)
        elif svc == "events" and res.startswith("api-destination/"):
            if t.get("role"):
                await c.authorize("events", "InvokeApiDestination", {"ApiDestinationArn": t["arn"]},
                                  account=ta, region=tr, source_arn=t["rule"], role_arn=t["role"])
            await _api_destination(d, t, payload)
        else:
            raise sinks.Failed(f"Target {t['arn']} is not supported by this broker.", False, "SDK_CLIENT_ERROR")
    except sinks.Failed:
        raise
    except Exception as exc:
        raise as_failure(exc, svc) from None


def as_failure(exc: Exception, svc: str) -> sinks.Failed:
    """Any error of a target call as a delivery failure: service errors (local, or
    from another process over IPC) by their AWS code, anything else retried."""
    if isinstance(exc, sinks.Failed):
        return exc
    if isinstance(exc, ServiceError):
        return failure(exc, svc)
    code = getattr(exc, "code", None)
    if code:
        return failure(ServiceError(getattr(exc, "message", str(exc)), code=code,
                                    status=getattr(exc, "status", 500)), svc)
    return sinks.Failed(f"{type(exc).__name__}: {exc}", True, "INTERNAL_ERROR")


async def _forward(d, t: dict, body: dict, meta: dict) -> None:
    """Bus to bus: the event itself, with EventBridge's one-hop rule across
    accounts and across regions."""
    hop = dict(t.get("hop") or {})
    if t["ta"] != t["a"]:
        if hop.get("xa"):
            raise sinks.Failed("Event was forwarded across accounts more than once.", False,
                               "THIRD_ACCOUNT_HOP_DETECTED")
        hop["xa"] = True
    if t["tr"] != t["r"]:
        if hop.get("xr"):
            raise sinks.Failed("Event was forwarded across regions more than once.", False,
                               "THIRD_REGION_HOP_DETECTED")
        hop["xr"] = True
    name = t["res"][len("event-bus/"):]
    key = bus_key(t["ta"], t["tr"], name)
    await d.partition.call(key, "events.Put", {"k": key, "ev": [body["ev"]], "strict": True, "hop": hop,
                                               "from": t["a"], "trace": [meta.get("trace")]})


# -- API destinations ------------------------------------------------------------------

async def resolve_destination(part, arn: str, account: str, region: str) -> dict:
    hit = destination_cache.get(arn)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    info = await part.call(ns_key(account, region), "events.Ns",
                           {"k": ns_key(account, region), "op": "ResolveDestination", "q": {"arn": arn},
                            "a": account, "r": region})
    destination_cache[arn] = (now + DESTINATION_TTL, info)
    return info


def _params(lst) -> list:
    return [(p["Key"], p.get("Value", "")) for p in lst or []]


async def _oauth_token(conn: dict, force: bool = False) -> str:
    arn = conn["arn"]
    hit = _tokens.get(arn)
    if hit and not force and hit[0] > time.monotonic():
        return hit[1]
    o = conn["auth"].get("OAuthParameters") or {}
    client = o.get("ClientParameters") or {}
    http = o.get("OAuthHttpParameters") or {}
    method = (o.get("HttpMethod") or "POST").upper()
    basic = base64.b64encode(f"{client.get('ClientID', '')}:{client.get('ClientSecret', '')}".encode()).decode()
    headers = [("Authorization", f"Basic {basic}")] + _params(http.get("HeaderParameters"))
    query = _params(http.get("QueryStringParameters"))
    form = _params(http.get("BodyParameters"))
    url = o.get("AuthorizationEndpoint", "")
    data = None
    if method == "GET":
        query += form
    else:
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        data = urlencode(form).encode()
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    try:
        status, _h, raw = await sinks.http_request(method, url, headers, data, timeout=10.0)
    except Exception as exc:
        raise sinks.Failed(f"Could not reach the OAuth endpoint: {type(exc).__name__}", True,
                           "CONNECTION_FAILURE") from None
    if not 200 <= status < 300:
        raise sinks.Failed(f"OAuth endpoint answered HTTP {status}", True, "FAILED_TO_ASSUME_ROLE", status)
    try:
        doc = json.loads(raw)
        token = doc["access_token"]
        ttl = float(doc.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError):
        raise sinks.Failed("OAuth endpoint answered without an access_token", True, "INVALID_JSON") from None
    _tokens[arn] = (time.monotonic() + max(1.0, ttl - 10), token)
    return token


async def authorization_header(conn: dict, force: bool = False) -> tuple[str, str] | None:
    kind = conn["type"]
    auth = conn["auth"]
    if kind == "BASIC":
        b = auth.get("BasicAuthParameters") or {}
        raw = f"{b.get('Username', '')}:{b.get('Password', '')}".encode()
        return "Authorization", "Basic " + base64.b64encode(raw).decode()
    if kind == "API_KEY":
        k = auth.get("ApiKeyAuthParameters") or {}
        return k.get("ApiKeyName", "x-api-key"), k.get("ApiKeyValue", "")
    if kind == "OAUTH_CLIENT_CREDENTIALS":
        return "Authorization", "Bearer " + await _oauth_token(conn, force)
    return None


async def _api_destination(d, t: dict, payload: str) -> None:
    info = await resolve_destination(d.partition, t["arn"], t["ta"], t["tr"])
    if info is None:
        raise sinks.Failed(f"API destination {t['arn']} does not exist.", False, "NO_RESOURCE")
    dest, conn = info["dest"], info["conn"]
    http = t.get("http") or {}
    url = dest["endpoint"]
    for value in http.get("PathParameterValues") or []:
        url = url.replace("*", value, 1)
    inv = (conn["auth"].get("InvocationHttpParameters") or {}) if conn else {}
    query = _params(inv.get("QueryStringParameters")) + list((http.get("QueryStringParameters") or {}).items())
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    headers = [("Content-Type", "application/json; charset=utf-8"),
               ("User-Agent", "Amazon/EventBridge/ApiDestinations")]
    headers += _params(inv.get("HeaderParameters")) + list((http.get("HeaderParameters") or {}).items())
    method = dest["method"].upper()
    data = None
    if method not in ("GET", "HEAD"):
        data = payload.encode()
        extra = _params(inv.get("BodyParameters"))
        if extra:
            try:
                doc = json.loads(payload)
                if isinstance(doc, dict):
                    doc.update(dict(extra))
                    data = json.dumps(doc).encode()
            except ValueError:
                pass
    for attempt in (0, 1):
        hdrs = list(headers)
        if conn:
            h = await authorization_header(conn, force=attempt == 1)
            if h:
                hdrs.append(h)
        try:
            status, _h, _b = await sinks.http_request(method, url, hdrs, data)
        except Exception as exc:
            raise sinks.Failed(f"{type(exc).__name__}: {exc}", True, "CONNECTION_FAILURE") from None
        if status == 401 and attempt == 0 and conn and conn["type"] == "OAUTH_CLIENT_CREDENTIALS":
            continue        # token revoked or expired early: fetch a new one once
        break
    if 200 <= status < 300:
        return
    retry = status in (401, 407, 409, 429) or status >= 500
    raise sinks.Failed(f"Target responded with HTTP {status}", retry,
                       "THROTTLING" if status == 429 else "ERROR_FROM_TARGET", status)


# -- dead letters -------------------------------------------------------------------------

async def deliver_dlq(d: sinks.Delivery) -> None:
    t = d.target
    err = d.meta.get("error") or {}
    p = t["arn"].split(":")
    if len(p) != 6 or p[2] != "sqs":
        raise sinks.Failed(f"Dead-letter target {t['arn']} is not an SQS queue.", False, "INVALID_PARAMETER")
    attempts = int(err.get("attempts") or 1)
    attrs = {"RULE_ARN": t["rule"], "TARGET_ARN": t["target"], "ERROR_CODE": err.get("code") or "UNKNOWN",
             "ERROR_MESSAGE": (err.get("reason") or "")[:1000], "RETRY_ATTEMPTS": str(attempts - 1)}
    if err.get("retryable"):
        attrs["EXHAUSTED_RETRY_CONDITION"] = ("MaximumRetryAttempts" if attempts - 1 >= int(t.get("max", 0))
                                              else "MaximumEventAgeInSeconds")
    body = d.body.get("e") or d.body.get("p")
    c = caller(d.partition.shard)
    params = {"QueueUrl": _queue_url(c, p[4], p[5]), "MessageBody": body,
              "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items() if v}}
    if p[5].endswith(".fifo"):
        params["MessageGroupId"] = "dead-letters"
        params["MessageDeduplicationId"] = d.id
    try:
        await c.call("sqs", "SendMessage", params, account=p[4], region=p[3], source_arn=t["rule"])
    except Exception as exc:
        telemetry.metric(NAMESPACE, "InvocationsFailedToBeSentToDLQ", {"RuleName": t["rule"].rsplit("/", 1)[-1]},
                         1, account=t["a"], region=t["r"])
        raise as_failure(exc, "sqs") from None
    telemetry.metric(NAMESPACE, "InvocationsSentToDLQ", {"RuleName": t["rule"].rsplit("/", 1)[-1]}, 1,
                     account=t["a"], region=t["r"])
    telemetry.metric(NAMESPACE, "DeadLetterInvocations", {"RuleName": t["rule"].rsplit("/", 1)[-1]}, 1,
                     account=t["a"], region=t["r"])


sinks.register_kind("events.target", deliver_target)
sinks.register_kind("events.dlq", deliver_dlq)
