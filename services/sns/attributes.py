"""Topic and subscription attributes: validation with SNS's messages, the
values GetTopicAttributes/GetSubscriptionAttributes return (defaults,
effective delivery policies), and the delivery-policy -> retry-schedule
mapping used by the delivery engine."""

from __future__ import annotations

from broker.runtime import sinks
from services.sns import filterpolicy
from services.sns.arns import sqs_arn_parts
from services.sns.errors import invalid
from services.sns.jsontext import JsonTextError, dumps, loads

DEFAULT_MAX_MESSAGE = 262_144
MAX_MESSAGE_CEILING = 1_048_576
HTTP_MAX_RETRY_SECONDS = 3600

_FEEDBACK = tuple(f"{p}{k}" for p in ("HTTP", "Firehose", "Lambda", "Application", "SQS")
                  for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn"))
TOPIC_SETTABLE = frozenset({
    "DeliveryPolicy", "DisplayName", "Policy", "KmsMasterKeyId", "SignatureVersion", "TracingConfig",
    "ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope", "MaximumMessageSize", *_FEEDBACK})
FIFO_ONLY = frozenset({"ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope"})
SUB_SETTABLE = frozenset({"DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                          "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"})
RAW_PROTOCOLS = frozenset({"sqs", "http", "https", "firehose"})
HTTP_PROTOCOLS = frozenset({"http", "https"})

DEFAULT_HEALTHY = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                   "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"}
DEFAULT_REQUEST = {"headerContentType": "text/plain; charset=UTF-8"}
_RETRY_INTS = ("minDelayTarget", "maxDelayTarget", "numRetries", "numMaxDelayRetries", "numNoDelayRetries",
               "numMinDelayRetries")
_BACKOFFS = ("arithmetic", "exponential", "geometric", "linear")

# AWS-managed endpoints (SQS, Lambda, Firehose): 100,015 attempts over 23 days.
AWS_MANAGED_POLICY = sinks.policy(immediate=3, pre=(2, 1.0), backoff=(10, 1.0, 20.0, "exponential"),
                                  post=(100_000, 20.0), max_age_s=23 * 86400, jitter=True)
# Customer-managed (SMTP, SMS, mobile push): 50 attempts over 6 hours.
CUSTOMER_MANAGED_POLICY = sinks.policy(immediate=0, pre=(2, 10.0), backoff=(10, 10.0, 600.0, "exponential"),
                                       post=(38, 600.0), max_age_s=6 * 3600, jitter=True)


def default_policy(arn: str, account: str) -> dict:
    return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                   "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                   "SNS:Publish"],
        "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}]}


def _json(name: str, value: str, prefix: str):
    try:
        return loads(value)
    except JsonTextError as exc:
        raise invalid(f"{prefix}{name}: failed to parse JSON. {exc.reason}") from None


def _bool(name: str, value: str, prefix: str = "") -> str:
    low = (value or "").lower()
    if low not in ("true", "false"):
        raise invalid(f"{prefix}{name}: Invalid value [{value}]. Must be true or false.")
    return low


# -- delivery policies -----------------------------------------------------------------

def _retry_policy(doc, where: str, fill: bool) -> dict:
    if not isinstance(doc, dict):
        raise invalid(f"DeliveryPolicy: {where} must be an object")
    out = {}
    for k in _RETRY_INTS:
        v = doc.get(k)
        if v is None:
            if fill:
                out[k] = 0
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise invalid(f"DeliveryPolicy: {where}.{k} must be a non-negative integer")
        out[k] = v
    fn = doc.get("backoffFunction", "linear" if fill else None)
    if fn is not None:
        if fn not in _BACKOFFS:
            raise invalid(f"DeliveryPolicy: {where}.backoffFunction must be one of {', '.join(_BACKOFFS)}")
        out["backoffFunction"] = fn
    lo, hi = out.get("minDelayTarget"), out.get("maxDelayTarget")
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"DeliveryPolicy: {where}.minDelayTarget must be less than or equal to maxDelayTarget")
    if (hi or 0) > HTTP_MAX_RETRY_SECONDS:
        raise invalid(f"DeliveryPolicy: {where}.maxDelayTarget must be less than or equal to "
                      f"{HTTP_MAX_RETRY_SECONDS}")
    if sum(out.get(k, 0) for k in ("numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries")) > \
            out.get("numRetries", 0 if fill else 100):
        raise invalid(f"DeliveryPolicy: {where}.numRetries must be at least the sum of the phase retries")
    if out.get("numRetries", 0) > 100:
        raise invalid(f"DeliveryPolicy: {where}.numRetries must be less than or equal to 100")
    return out


def _throttle(doc, where: str) -> dict:
    if not isinstance(doc, dict):
        raise invalid(f"DeliveryPolicy: {where} must be an object")
    rate = doc.get("maxReceivesPerSecond")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise invalid(f"DeliveryPolicy: {where}.maxReceivesPerSecond must be an integer greater than 0")
    return {"maxReceivesPerSecond": rate}


def topic_delivery_policy(value: str, prefix: str = "") -> str:
    """Validate a topic DeliveryPolicy; return it as SNS stores it."""
    doc = _json("DeliveryPolicy", value, prefix)
    if not isinstance(doc, dict):
        raise invalid(f"{prefix}DeliveryPolicy: must be a JSON object")
    out = {}
    http = doc.get("http")
    if http is not None:
        if not isinstance(http, dict):
            raise invalid(f"{prefix}DeliveryPolicy: http must be an object")
        h = {}
        if http.get("defaultHealthyRetryPolicy") is not None:
            h["defaultHealthyRetryPolicy"] = _retry_policy(http["defaultHealthyRetryPolicy"],
                                                           "http.defaultHealthyRetryPolicy", False)
        if http.get("defaultSicklyRetryPolicy") is not None:
            h["defaultSicklyRetryPolicy"] = _retry_policy(http["defaultSicklyRetryPolicy"],
                                                          "http.defaultSicklyRetryPolicy", False)
        h["disableSubscriptionOverrides"] = bool(http.get("disableSubscriptionOverrides", False))
        if http.get("defaultThrottlePolicy") is not None:
            h["defaultThrottlePolicy"] = _throttle(http["defaultThrottlePolicy"], "http.defaultThrottlePolicy")
        if http.get("defaultRequestPolicy") is not None:
            h["defaultRequestPolicy"] = _request(http["defaultRequestPolicy"], "http.defaultRequestPolicy")
        out["http"] = h
    return dumps(out)


def _request(doc, where: str) -> dict:
    if not isinstance(doc, dict) or not isinstance(doc.get("headerContentType", ""), str):
        raise invalid(f"DeliveryPolicy: {where}.headerContentType must be a string")
    return {"headerContentType": doc["headerContentType"]} if "headerContentType" in doc else {}


def effective_topic_policy(stored: str | None) -> dict:
    http = (loads(stored).get("http") or {}) if stored else {}
    healthy = http.get("defaultHealthyRetryPolicy")
    eff = {"defaultHealthyRetryPolicy": _filled(healthy) if healthy is not None else dict(DEFAULT_HEALTHY),
           "disableSubscriptionOverrides": http.get("disableSubscriptionOverrides", False)}
    if http.get("defaultThrottlePolicy"):
        eff["defaultThrottlePolicy"] = http["defaultThrottlePolicy"]
    eff["defaultRequestPolicy"] = http.get("defaultRequestPolicy") or dict(DEFAULT_REQUEST)
    return {"http": eff}


def _filled(p: dict) -> dict:
    out = {k: p.get(k, 0) for k in _RETRY_INTS}
    out["backoffFunction"] = p.get("backoffFunction", "linear")
    return out


def sub_delivery_policy(value: str, prefix: str = "") -> str:
    doc = _json("DeliveryPolicy", value, prefix)
    if not isinstance(doc, dict):
        raise invalid(f"{prefix}DeliveryPolicy: must be a JSON object")
    healthy = doc.get("healthyRetryPolicy")
    sickly = doc.get("sicklyRetryPolicy")
    throttle = doc.get("throttlePolicy")
    request = doc.get("requestPolicy")
    return dumps({
        "healthyRetryPolicy": _retry_policy(healthy, "healthyRetryPolicy", True) if healthy is not None else None,
        "sicklyRetryPolicy": _retry_policy(sickly, "sicklyRetryPolicy", True) if sickly is not None else None,
        "throttlePolicy": _throttle(throttle, "throttlePolicy") if throttle is not None else None,
        "requestPolicy": _request(request, "requestPolicy") if request is not None else None,
        "guaranteed": bool(doc.get("guaranteed", False)),
    })


def effective_sub_policy(sub_stored: str | None, topic_stored: str | None) -> dict:
    topic = effective_topic_policy(topic_stored)["http"]
    sub = loads(sub_stored) if sub_stored else {}
    if topic["disableSubscriptionOverrides"]:
        sub = {}
    return {"healthyRetryPolicy": sub.get("healthyRetryPolicy") or topic["defaultHealthyRetryPolicy"],
            "sicklyRetryPolicy": sub.get("sicklyRetryPolicy"),
            "throttlePolicy": sub.get("throttlePolicy") or topic.get("defaultThrottlePolicy"),
            "requestPolicy": sub.get("requestPolicy") or topic["defaultRequestPolicy"],
            "guaranteed": sub.get("guaranteed", False)}


def retry_schedule(healthy: dict) -> dict:
    """A healthyRetryPolicy as a delivery-engine schedule (capped at one hour, as SNS does)."""
    total = healthy.get("numRetries", 0)
    nodelay = healthy.get("numNoDelayRetries", 0)
    mind = healthy.get("numMinDelayRetries", 0)
    maxd = healthy.get("numMaxDelayRetries", 0)
    lo, hi = float(healthy.get("minDelayTarget", 20)), float(healthy.get("maxDelayTarget", 20))
    backoff = max(0, total - nodelay - mind - maxd)
    return sinks.policy(immediate=nodelay, pre=(mind, lo), backoff=(backoff, lo, hi, healthy.get(
        "backoffFunction", "linear")), post=(maxd, hi), max_age_s=HTTP_MAX_RETRY_SECONDS)


# -- topic attributes ----------------------------------------------------------------------

def check_topic_attr(name: str, value: str, fifo: bool, creating: bool) -> str | None:
    """The value to store (None: remove the attribute)."""
    prefix = "Attributes Reason: " if creating else ""
    if name not in TOPIC_SETTABLE or (name in FIFO_ONLY and not fifo):
        raise invalid("AttributeName")
    if name == "DeliveryPolicy":
        return topic_delivery_policy(value, prefix) if value else None
    if name == "Policy":
        if not value:
            return None
        doc = _json("Policy", value, prefix)
        if not isinstance(doc, dict):
            raise invalid(f"{prefix}Policy: must be a JSON object")
        return dumps(doc)
    if name == "SignatureVersion":
        if value not in ("1", "2"):
            raise invalid(f"{prefix}SignatureVersion: Invalid value [{value}]. Must be 1 or 2.")
    elif name == "TracingConfig":
        if value not in ("PassThrough", "Active"):
            raise invalid(f"{prefix}TracingConfig: Invalid value [{value}]. Must be PassThrough or Active.")
        if value == "Active" and fifo:
            raise invalid(f"{prefix}TracingConfig: Active tracing is not supported on FIFO topics.")
    elif name == "ContentBasedDeduplication":
        return _bool(name, value, prefix)
    elif name == "FifoThroughputScope":
        if value not in ("Topic", "MessageGroup"):
            raise invalid(f"{prefix}FifoThroughputScope: Invalid value [{value}]. Must be Topic or MessageGroup.")
    elif name == "MaximumMessageSize":
        if not value.isdigit() or not 1024 <= int(value) <= MAX_MESSAGE_CEILING:
            raise invalid(f"{prefix}MaximumMessageSize: Invalid value [{value}]. Must be between 1024 and "
                          f"{MAX_MESSAGE_CEILING}.")
        return str(int(value))
    elif name == "ArchivePolicy":
        if not value:
            return None
        doc = _json("ArchivePolicy", value, prefix)
        days = doc.get("MessageRetentionPeriod") if isinstance(doc, dict) else None
        if not str(days).isdigit() or not 1 <= int(days) <= 365:
            raise invalid(f"{prefix}ArchivePolicy: MessageRetentionPeriod must be between 1 and 365 days.")
        return dumps(doc)
    elif name.endswith("SampleRate"):
        if not value.isdigit() or int(value) > 100:
            raise invalid(f"{prefix}{name}: Invalid value [{value}]. Must be between 0 and 100.")
    return value


def topic_attributes(t) -> dict:
    """GetTopicAttributes for a shard-side Topic."""
    attrs = dict(t.attrs)
    out = {
        "DisplayName": attrs.pop("DisplayName", ""),
        "Owner": t.account,
        "Policy": attrs.pop("Policy", None) or dumps(default_policy(t.arn, t.account)),
        "EffectiveDeliveryPolicy": dumps(effective_topic_policy(attrs.get("DeliveryPolicy"))),
        "SubscriptionsConfirmed": str(t.confirmed),
        "SubscriptionsPending": str(t.pending),
        "SubscriptionsDeleted": str(t.deleted),
        "TopicArn": t.arn,
    }
    out.update(attrs)
    if t.fifo:
        out["FifoTopic"] = "true"
        out.setdefault("ContentBasedDeduplication", "false")
        if "ArchivePolicy" in attrs:
            out["BeginningArchiveTime"] = _iso(t.created)
    return out


def _iso(ms: int) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- subscription attributes --------------------------------------------------------------

def check_sub_attr(name: str, value: str, *, protocol: str, endpoint: str, topic_fifo: bool, scope: str,
                   subscribing: bool) -> str | None:
    """The value to store (None: remove)."""
    prefix = "Attributes Reason: " if subscribing else ""
    if name not in SUB_SETTABLE:
        if subscribing:
            raise invalid(f"{prefix}Unknown attribute name: {name}")
        raise invalid("AttributeName")
    if name == "RawMessageDelivery":
        v = _bool(name, value, prefix)
        if v == "true" and protocol not in RAW_PROTOCOLS:
            raise invalid(f"{prefix}Delivery protocol [{protocol}] does not support raw message delivery.")
        return v
    if name == "FilterPolicyScope":
        if value not in filterpolicy.SCOPES:
            raise invalid(f"{prefix}FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or "
                          f"MessageAttributes")
        return value
    if name == "FilterPolicy":
        if not value:
            return None
        try:
            filterpolicy.parse(value, scope)
        except filterpolicy.PolicyError as exc:
            raise invalid(f"{prefix}{exc.reason}") from None
        return value
    if name == "RedrivePolicy":
        if not value:
            return None
        doc = _json("RedrivePolicy", value, prefix)
        target = doc.get("deadLetterTargetArn") if isinstance(doc, dict) else None
        dlq = sqs_arn_parts(target)
        if dlq is None:
            raise invalid(f"{prefix}RedrivePolicy: deadLetterTargetArn is an invalid arn")
        if topic_fifo and protocol == "sqs" and endpoint.endswith(".fifo") and not dlq[2].endswith(".fifo"):
            raise invalid(f"{prefix}RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a "
                          f"FIFO Topic.")
        return dumps(doc)
    if name == "DeliveryPolicy":
        return sub_delivery_policy(value, prefix) if value else None
    return value or None


def subscription_attributes(s, topic_delivery: str | None) -> dict:
    """GetSubscriptionAttributes for a shard-side Subscription."""
    out = {
        "ConfirmationWasAuthenticated": "true" if s.authenticated else "false",
        "Endpoint": s.endpoint,
        "Owner": s.owner,
        "PendingConfirmation": "true" if s.pending else "false",
        "Protocol": s.protocol,
        "RawMessageDelivery": s.attrs.get("RawMessageDelivery", "false"),
        "SubscriptionArn": s.arn,
        "SubscriptionPrincipal": s.principal,
        "TopicArn": s.topic_arn,
    }
    for k, v in s.attrs.items():
        if k not in ("FilterPolicyScope", "RawMessageDelivery"):
            out[k] = v
    if "FilterPolicy" in s.attrs:
        out["FilterPolicyScope"] = s.attrs.get("FilterPolicyScope", "MessageAttributes")
    if s.protocol in HTTP_PROTOCOLS:
        out["EffectiveDeliveryPolicy"] = dumps(effective_sub_policy(s.attrs.get("DeliveryPolicy"), topic_delivery))
    return out
