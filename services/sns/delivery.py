"""Delivery kinds of SNS subscriptions (handlers of broker/runtime/sinks.py).

Each delivery's body references the published message and the subscription
(``{"m", "s", "t"}``); the handler renders what that subscriber gets and
hands it over: SQS through its own API (services/internal.py), HTTP(S) as a
signed POST, Lambda and Firehose through theirs (not hosted yet: treated as
unavailable, so retried per AWS's policy and then dead-lettered), SMS, push
and email recorded. A handler returns when the endpoint took the message
and raises `sinks.Failed` otherwise: retryable for server-side errors,
final for client-side ones (AWS does not retry those). When a delivery gives
up, ``sns.dead`` sends it to the subscription's redrive DLQ, if any.
"""

from __future__ import annotations

import functools
import json
import logging

from broker.runtime import sinks
from broker.runtime.ipc import RemoteError
from services.errors import ServiceError
from services.internal import caller
from services.sns import envelope
from services.sns.arns import parse_endpoint, sqs_arn_parts
from services.sns.attributes import DEFAULT_REQUEST, RAW_PROTOCOLS, effective_sub_policy
from services.sns.signing import signer_for

log = logging.getLogger("broker.sns")

_RETRYABLE_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "InternalError", "ThrottlingException",
                              "RequestThrottled", "KMSThrottling", "KMSThrottlingException", "Throttled",
                              "TooManyRequestsException"})


def _shard(d: sinks.Delivery):
    return d.partition.services["sns"]


def _signer(part):
    """The partition's SNS message signer."""
    return signer_for(part.shard.run.data_dir, part.master)


def _failure(exc) -> sinks.Failed:
    code = getattr(exc, "code", "") or type(exc).__name__
    status = getattr(exc, "status", 500) or 500
    retryable = status >= 500 or status == 429 or code in _RETRYABLE_CODES
    return sinks.Failed(f"{code}: {getattr(exc, 'message', exc)}", retryable, code, status)


async def _call(part, service: str, op: str, params: dict, *, account: str, region: str,
                source_arn: str, trace: str | None = None) -> None:
    try:
        await caller(part.shard).call(service, op, params, account=account, region=region,
                                              source_arn=source_arn, trace_header=trace)
    except (ServiceError, RemoteError) as exc:
        raise _failure(exc) from None


def _subscriber(handler):
    """A delivery to one subscription: `handler(d, shard, msg, topic, sub)` hands the
    message over (or raises Failed); the delivery then counts as delivered."""
    @functools.wraps(handler)
    async def run(d: sinks.Delivery) -> None:
        shard = _shard(d)
        msg, t, s = shard.resolve(d.body)
        if msg is None:
            return
        if s is None:               # unsubscribed (or topic deleted) since the publish
            shard.fanout.release(d.body["m"])
            return
        await handler(d, shard, msg, t, s)
        shard.delivered(d.body, t)
    return run


def _queue_url(part, region: str, account: str, name: str) -> str:
    """A URL SqsApi resolves to the queue an ARN names (the path form keeps its region)."""
    return f"http://{caller(part.shard).netloc}/queue/{region}/{account}/{name}"


async def send_sqs(part, msg: dict, t, s) -> None:
    """SendMessage of one notification to an SQS subscription (raises Failed);
    also the first attempt of fanout.py's direct deliveries, outside the sinks."""
    region, account, name = sqs_arn_parts(s.endpoint)
    params = envelope.sqs_params(msg, s.arn, _queue_url(part, region, account, name), name.endswith(".fifo"),
                                 s.raw, _signer(part))
    await _call(part, "sqs", "SendMessage", params, account=account, region=region, source_arn=t.arn,
                trace=msg.get("tr"))


BATCH_ENTRIES = 10                  # SendMessageBatch's limit
BATCH_ENTRY_BYTES = 100 * 1024      # larger messages go one by one (10 of these fit a batch's 1 MiB)


def batchable(msg: dict, s) -> bool:
    """Whether deliveries of `msg` to `s` may share a SendMessageBatch: standard queues,
    not too large, no X-Ray trace header (each traced delivery is its own call)."""
    if msg.get("tr") or s.endpoint.endswith(".fifo"):
        return False
    size = 2048 + len(envelope.text_for(msg, "sqs").encode())     # 2 KB: the JSON envelope's fields
    for name, (dtype, value) in (msg.get("a") or {}).items():
        size += 2 * (len(name) + len(dtype) + len(value))           # base64 / JSON escapes: at most about 2x
    return size <= BATCH_ENTRY_BYTES


async def send_sqs_batch(part, t, s, msgs: list[dict]) -> list:
    """Several notifications to one SQS subscription in one SendMessageBatch (all
    `batchable`): per message None (accepted) or the Failed to hand to the sinks."""
    region, account, name = sqs_arn_parts(s.endpoint)
    url = _queue_url(part, region, account, name)
    signer = _signer(part)
    entries = []
    for i, msg in enumerate(msgs):
        params = envelope.sqs_params(msg, s.arn, url, False, s.raw, signer)
        del params["QueueUrl"]
        params["Id"] = str(i)
        entries.append(params)
    try:
        out = await caller(part.shard).call("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": entries},
                                            account=account, region=region, source_arn=t.arn)
    except (ServiceError, RemoteError) as exc:
        return [_failure(exc)] * len(msgs)
    results: list = [None] * len(msgs)
    for f in out.get("Failed") or ():
        retryable = not f.get("SenderFault") or f.get("Code") in _RETRYABLE_CODES
        results[int(f["Id"])] = sinks.Failed(f"{f.get('Code')}: {f.get('Message')}", retryable, f.get("Code", ""))
    return results


@_subscriber
async def deliver_sqs(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    await send_sqs(d.partition, msg, t, s)


async def _post(url: str, headers: list, body: bytes) -> None:
    try:
        status, _h, _b = await sinks.http_request("POST", url, headers, body)
    except Exception as exc:     # connection refused, DNS, TLS, timeout: server-side
        raise sinks.Failed(f"{type(exc).__name__}: {exc}", True, "ConnectionError") from None
    if not 200 <= status < 300:
        raise sinks.Failed(f"HTTP {status}", status >= 500 or status in (408, 429), f"HTTP{status}", status)


@_subscriber
async def deliver_http(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    eff = effective_sub_policy(s.attrs.get("DeliveryPolicy"), t.attrs.get("DeliveryPolicy"))
    ctype = (eff.get("requestPolicy") or DEFAULT_REQUEST).get("headerContentType") or \
        DEFAULT_REQUEST["headerContentType"]
    headers, body = envelope.http_request(msg, s.arn, s.protocol, s.raw, ctype, _signer(d.partition))
    await _post(s.endpoint, headers, body)


@_subscriber
async def deliver_lambda(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    parts = s.endpoint.split(":")
    payload = json.dumps(envelope.lambda_event(msg, s.arn, _signer(d.partition))).encode()
    await _call(d.partition, "lambda", "Invoke",
                {"FunctionName": s.endpoint, "InvocationType": "Event", "Payload": payload},
                account=parts[4], region=parts[3], source_arn=t.arn, trace=msg.get("tr"))


@_subscriber
async def deliver_firehose(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    parts = s.endpoint.split(":")
    text = envelope.text_for(msg, "firehose")
    data = text if s.raw else envelope.dumps(envelope.notification(msg, s.arn, text, _signer(d.partition), "firehose"))
    await _call(d.partition, "firehose", "PutRecord", {"DeliveryStreamName": parts[-1].split("/")[-1],
                                             "Record": {"Data": (data + "\n").encode()}},
                account=parts[4], region=parts[3], source_arn=t.arn)


def _record_doc(msg: dict, t, s, text: str) -> dict:
    return {"TopicArn": t.arn, "SubscriptionArn": s.arn, "MessageId": msg["id"], "Message": text,
            "MessageAttributes": envelope.record_attributes(msg.get("a")),
            "MessageStructure": "json" if msg.get("st") else None, "Subject": msg.get("sj")}


@_subscriber
async def deliver_sms(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    shard.records.add("sms", t.account, t.region,
                      {"PhoneNumber": s.endpoint, **_record_doc(msg, t, s, envelope.text_for(msg, "sms"))})


@_subscriber
async def deliver_email(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    text = envelope.text_for(msg, s.protocol)
    if s.protocol == "email-json":
        text = envelope.dumps(envelope.notification(msg, s.arn, text, _signer(d.partition), "email-json"))
        body = text
    else:
        body = text + EMAIL_FOOTER.format(url=envelope.unsubscribe_url(msg.get("b") or _base(d), s.arn))
    await _mail(d, t.account, t.region, s.endpoint, msg.get("sj") or "AWS Notification Message", body)
    shard.records.add("email", t.account, t.region, {
        "Type": "Notification", "Endpoint": s.endpoint, "Protocol": s.protocol, "Timestamp": msg["ts"],
        **_record_doc(msg, t, s, text)})


EMAIL_FROM = "AWS Notifications <no-reply@sns.amazonaws.com>"
EMAIL_FOOTER = ("\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the "
                "link below to unsubscribe:\n{url}\n\nPlease do not reply directly to this email. If you have any "
                "questions or comments regarding this email, please contact us at https://aws.amazon.com/support\n")


def _base(d: sinks.Delivery) -> str:
    return f"http://{caller(d.partition.shard).netloc}"


async def _mail(d: sinks.Delivery, account: str, region: str, to: str, subject: str, text: str) -> None:
    """Into the SES mailbox (what an email subscriber receives)."""
    from services.ses.notify import deliver_text_mail
    try:
        await deliver_text_mail(d.partition.call, account, region, EMAIL_FROM, to, subject, text)
    except Exception as exc:
        raise sinks.Failed(f"mailbox: {exc}", True, getattr(exc, "code", "") or "MailboxUnavailable") from None


async def deliver_mail(d: sinks.Delivery) -> None:
    """sns.mail: a subscription-confirmation mail (body: account, region, to, subject, text)."""
    b = d.body
    await _mail(d, b["a"], b["r"], b["to"], b["subject"], b["text"])


@_subscriber
async def deliver_push(d: sinks.Delivery, shard, msg: dict, t, s) -> None:
    try:
        app, eid, _region, _account = parse_endpoint(s.endpoint)
    except ServiceError as exc:
        raise _failure(exc) from None
    platform = s.endpoint.split(":", 5)[5].split("/")[1]
    doc = {"TargetArn": s.endpoint, **_record_doc(msg, t, s, envelope.text_for(msg, platform))}
    try:
        await d.partition.call(app, "sns.PushToEndpoint", {"k": app, "eid": eid, "doc": doc})
    except RemoteError as exc:
        raise _failure(exc) from None


async def deliver_confirmation(d: sinks.Delivery) -> None:
    """SubscriptionConfirmation / UnsubscribeConfirmation to an HTTP(S) endpoint."""
    b = d.body
    env = envelope.confirmation(b["kind"], b["topic"], b["id"], b["token"], b["b"], b["ts"], b["text"],
                                _signer(d.partition), b.get("sv") or "1")
    headers = [("Content-Type", b["ct"]), ("User-Agent", envelope.USER_AGENT),
               ("x-amz-sns-message-type", b["kind"]), ("x-amz-sns-message-id", b["id"]),
               ("x-amz-sns-topic-arn", b["topic"])]
    if b["kind"] == "UnsubscribeConfirmation":
        headers.append(("x-amz-sns-subscription-arn", b["sub"]))
    await _post(b["ep"], headers, envelope.dumps(env).encode())


async def dead_letter(d: sinks.Delivery) -> None:
    """A delivery gave up: into the subscription's redrive DLQ, or counted as failed."""
    shard = _shard(d)
    msg, t, s = shard.resolve(d.body)
    if msg is None:
        return
    error = (d.meta or {}).get("error") or {}
    policy = s.attrs.get("RedrivePolicy") if s is not None else None
    if not policy:
        log.info("event=sns_delivery_failed sub=%s attempts=%s error=%s", s.arn if s else d.body.get("s"),
                 error.get("attempts"), error.get("reason"))
        shard.failed(d.body, t, None)
        return
    region, account, name = sqs_arn_parts(json.loads(policy)["deadLetterTargetArn"])
    raw = s.raw and s.protocol in RAW_PROTOCOLS
    params = envelope.sqs_params(msg, s.arn, _queue_url(d.partition, region, account, name),
                                 name.endswith(".fifo"), raw, _signer(d.partition), s.protocol)
    try:
        await _call(d.partition, "sqs", "SendMessage", params, account=account, region=region, source_arn=t.arn,
                    trace=msg.get("tr"))
    except sinks.Failed as exc:
        if exc.retryable:
            raise
        log.info("event=sns_redrive_failed sub=%s dlq=%s error=%s", s.arn, name, exc.reason)
        shard.failed(d.body, t, False)
        return
    shard.failed(d.body, t, True)


for _kind, _handler in (("sns.sqs", deliver_sqs), ("sns.http", deliver_http), ("sns.lambda", deliver_lambda),
                        ("sns.firehose", deliver_firehose), ("sns.sms", deliver_sms), ("sns.email", deliver_email),
                        ("sns.mail", deliver_mail),
                        ("sns.push", deliver_push), ("sns.confirm", deliver_confirmation),
                        ("sns.dead", dead_letter)):
    sinks.register_kind(_kind, _handler)
