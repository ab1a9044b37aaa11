"""CloudTrail records of the API calls the gateway serves.

Every management call becomes a record in AWS's event JSON (eventVersion
1.09) queued through telemetry.audit (shipped once a second to the account's
CloudTrail partition). Data events (SQS message operations, SNS Publish,
metric and log data...) are built only when a trail of the account selects
them (selectors.DataSelectorCache), as at AWS.

Parameters are recorded as AWS does: member names in lowerCamelCase,
secrets redacted by the service model's ``sensitive`` trait
("HIDDEN_DUE_TO_SECURITY_REASONS"), binary values (KMS Plaintext,
CiphertextBlob...) omitted, and responseElements only for calls that change
something.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone

from broker.core.ids import uuid4
from broker.runtime import telemetry
from services.cloudtrail.selectors import DataSelectorCache

EVENT_VERSION = "1.09"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
MAX_PARAMS_CHARS = 100_000

READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "Search", "Query", "Scan", "Filter", "Test",
                 "Receive", "Poll", "BatchGet", "Validate", "Preview", "Estimate", "Check")
KMS_READ = {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "GenerateMac",
            "VerifyMac", "Sign", "Verify"}
# operations CloudTrail logs as data events, with the resource type they act on
DATA_EVENTS = {
    "sqs": ({"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
             "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}, "AWS::SQS::Queue"),
    "sns": ({"Publish", "PublishBatch"}, "AWS::SNS::Topic"),
    "cloudwatch": ({"PutMetricData", "GetMetricData", "GetMetricStatistics", "ListMetrics"},
                   "AWS::CloudWatch::Metric"),
    "logs": ({"PutLogEvents", "GetLogEvents", "FilterLogEvents"}, "AWS::Logs::LogStream"),
    "xray": ({"PutTraceSegments", "PutTelemetryRecords"}, "AWS::XRay::Trace"),
}
# message contents are never recorded, whatever the model says
HIDE_MEMBERS = {"sqs": {"MessageBody"}, "sns": {"Message"}, "logs": {"logEvents"}, "ses": {"Content", "RawMessage"}}


def read_only(service: str, op: str) -> bool:
    if service == "kms" and op in KMS_READ:
        return True
    return op.startswith(READ_PREFIXES)


def is_data_event(service: str, op: str) -> bool:
    spec = DATA_EVENTS.get(service)
    return spec is not None and op in spec[0]


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:]


_now_cache = [0, ""]


def _now_iso() -> str:
    """The current second in ISO 8601 (formatted once per second)."""
    sec = int(time.time())
    if sec != _now_cache[0]:
        _now_cache[0], _now_cache[1] = sec, _iso(sec)
    return _now_cache[1]


def _iso(dt) -> str:
    if isinstance(dt, datetime):
        return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(float(dt), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_SKIP = object()


def _plain(value):
    """A value no shape describes: bytes are left out, timestamps made ISO 8601."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = _plain(v)
            if r is not _SKIP:
                out[k] = r
        return out
    if isinstance(value, list):
        return [r for r in map(_plain, value) if r is not _SKIP]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _SKIP
    if isinstance(value, datetime):
        return _iso(value)
    return value


def compile_redactor(shape, hide: set | frozenset = frozenset(), _depth: int = 0):
    """A function turning a value of `shape` into what CloudTrail records of it (compiled once per
    operation: member names, sub-shapes and secrets are resolved here, not per request)."""
    if shape is None or _depth > 24:
        return _plain
    if shape.metadata.get("sensitive"):
        return (lambda v: _SKIP) if shape.type_name == "blob" else (lambda v: HIDDEN)
    t = shape.type_name
    if t == "blob":
        return lambda v: _SKIP
    if t == "timestamp":
        return lambda v: _iso(v) if isinstance(v, (datetime, int, float)) else v
    if t in ("string", "integer", "long", "boolean", "double", "float"):
        return lambda v: v
    if t == "list":
        item = compile_redactor(shape.member, frozenset(), _depth + 1)
        return lambda v: [r for r in map(item, v) if r is not _SKIP] if isinstance(v, list) else _plain(v)
    if t == "map":
        val = compile_redactor(shape.value, frozenset(), _depth + 1)

        def red_map(v):
            if not isinstance(v, dict):
                return _plain(v)
            out = {}
            for k, x in v.items():
                r = val(x)
                if r is not _SKIP:
                    out[k] = r
            return out
        return red_map
    if t == "structure":
        members = {}
        for name, sub in shape.members.items():
            lower = _lower(name)
            members[name] = (lower, (lambda v: HIDDEN) if name in hide else compile_redactor(sub, frozenset(),
                                                                                              _depth + 1))

        def red_struct(v):
            if not isinstance(v, dict):
                return _plain(v)
            out = {}
            for k, x in v.items():
                m = members.get(k)
                if m is None:
                    r = _plain(x)
                    if r is not _SKIP:
                        out[k] = r
                    continue
                r = m[1](x)
                if r is not _SKIP:
                    out[m[0]] = r
            return out
        return red_struct
    return _plain


def redact(value, shape, hide: set | frozenset = frozenset()):
    """`value` as CloudTrail records it (shape-driven; unknown members pass through)."""
    r = compile_redactor(shape, hide)(value)
    return None if r is _SKIP else r


def _identity(p) -> dict:
    arn = p.arn
    ident = {"arn": arn, "accountId": p.account_id}
    if p.access_key:
        ident["accessKeyId"] = p.access_key
    if arn.endswith(":root"):
        ident = {"type": "Root", "principalId": p.account_id, **ident}
    elif ":assumed-role/" in arn:
        ident = {"type": "AssumedRole", "principalId": "AROA" + _pid(arn), **ident}
    else:
        ident = {"type": "IAMUser", "principalId": "AIDA" + _pid(arn), **ident, "userName": p.user_name}
    return ident


def _pid(arn: str) -> str:
    return hashlib.sha256(arn.encode()).hexdigest()[:17].upper()


def resources(service: str, op: str, params: dict, account: str, region: str) -> list[dict]:
    """The resources a call names (CloudTrail ``resources``, LookupEvents ResourceType/Name)."""
    p = params or {}
    out = []
    if service == "sqs":
        url = p.get("QueueUrl")
        if url:
            parts = url.split("?", 1)[0].rstrip("/").rsplit("/", 2)[-2:]   # .../<account>/<name>
            if len(parts) >= 2:
                out.append({"accountId": parts[-2], "type": "AWS::SQS::Queue",
                            "ARN": f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"})
        elif p.get("QueueName"):
            out.append({"accountId": account, "type": "AWS::SQS::Queue",
                        "ARN": f"arn:aws:sqs:{region}:{account}:{p['QueueName']}"})
    elif service == "sns" and (p.get("TopicArn") or p.get("TargetArn")):
        arn = p.get("TopicArn") or p.get("TargetArn")
        out.append({"accountId": arn.split(":")[4] if arn.count(":") >= 5 else account,
                    "type": "AWS::SNS::Topic", "ARN": arn})
    elif service == "kms" and isinstance(p.get("KeyId"), str):
        kid = p["KeyId"]
        arn = kid if kid.startswith("arn:") else f"arn:aws:kms:{region}:{account}:" + (
            kid if kid.startswith("alias/") else f"key/{kid}")
        out.append({"accountId": account, "type": "AWS::KMS::Key", "ARN": arn})
    elif service == "cloudwatch" and p.get("AlarmName"):
        out.append({"accountId": account, "type": "AWS::CloudWatch::Alarm",
                    "ARN": f"arn:aws:cloudwatch:{region}:{account}:alarm:{p['AlarmName']}"})
    elif service == "logs" and p.get("logGroupName"):
        arn = f"arn:aws:logs:{region}:{account}:log-group:{p['logGroupName']}"
        if p.get("logStreamName"):
            out.append({"accountId": account, "type": "AWS::Logs::LogStream",
                        "ARN": f"{arn}:log-stream:{p['logStreamName']}"})
        else:
            out.append({"accountId": account, "type": "AWS::Logs::LogGroup", "ARN": arn})
    elif service == "cloudtrail" and isinstance(p.get("Name") or p.get("TrailName"), str):
        name = p.get("Name") or p.get("TrailName")
        arn = name if name.startswith("arn:") else f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"
        out.append({"accountId": account, "type": "AWS::CloudTrail::Trail", "ARN": arn})
    elif service == "cloudwatch" and DATA_EVENTS["cloudwatch"][0].__contains__(op) and p.get("Namespace"):
        out.append({"accountId": account, "type": "AWS::CloudWatch::Metric",
                    "ARN": f"arn:aws:cloudwatch:{region}:{account}:metric/{p['Namespace']}"})
    return out


def _error_code_of(codec):
    """How the service names its errors on the wire: query-compatible services (SQS, CloudWatch...)
    record their query codes (``AWS.SimpleQueueService.NonExistentQueue``), others the shape name."""
    if not codec.query_compatible:
        return None
    by_name, by_code, query = codec._err_by_name, codec._err_by_code, codec._query_code

    def wire(code: str) -> str:
        return query.get(code if code in by_name else by_code.get(code, code), code)
    return wire


class Recorder:
    def __init__(self, gateway):
        self.gateway = gateway
        self.selectors = DataSelectorCache(gateway.cluster)
        self._ops: dict[tuple, tuple] = {}
        self.selectors.start()

    def _op(self, codec_service: str, op: str) -> tuple:
        info = self._ops.get((codec_service, op))
        if info is None:
            from protocols.http.codec import get_service_codec
            codec = get_service_codec(codec_service)
            hide = HIDE_MEMBERS.get(codec_service, frozenset())
            try:
                om = codec.service_model.operation_model(op)
                redactors = (compile_redactor(om.input_shape, hide), compile_redactor(om.output_shape, hide))
            except Exception:
                redactors = (_plain, _plain)
            info = self._ops[(codec_service, op)] = (
                f"{codec.endpoint_prefix}.amazonaws.com", read_only(codec_service, op),
                is_data_event(codec_service, op), redactors, _error_code_of(codec))
        return info

    def observe(self, rec, req, conn, resp) -> None:
        service, op = rec.service, rec.match.operation
        source, ro, data, redactors, wire_code = self._op(service, op)
        p = rec.principal
        account = p.account_id
        if data and not self.selectors.any_for(account):
            return
        event = build(rec, req, conn, resp, source, ro, data, redactors, wire_code)
        if data and not self.selectors.wants(account, event):
            return
        telemetry.audit(event)


def build(rec, req, conn, resp, source, ro, data, redactors, wire_code=None) -> dict:
    p, ctx = rec.principal, rec.ctx
    region = ctx.region if ctx is not None else (p.region or "us-east-1")
    op = rec.match.operation
    params = rec.params
    event = {
        "eventVersion": EVENT_VERSION, "userIdentity": _identity(p), "eventTime": _now_iso(),
        "eventSource": source, "eventName": op, "awsRegion": region,
        "sourceIPAddress": (conn.peer[0] if getattr(conn, "peer", None) else "127.0.0.1"),
        "userAgent": req.headers.get("user-agent", ""),
    }
    err = rec.error
    if err is not None:
        event["errorCode"] = wire_code(err.code) if wire_code is not None else err.code
        if err.message:
            event["errorMessage"] = err.message
    req_params = redactors[0](params) if params else None
    if req_params is not None and len(getattr(req, "body", b"") or b"") > MAX_PARAMS_CHARS:
        req_params = {"omitted": True}           # AWS leaves out oversized parameters too
    event["requestParameters"] = req_params or None
    out = None
    if not ro and err is None and rec.result:
        out = redactors[1](rec.result) or None
        if out is not None and len(getattr(resp, "body", b"") or b"") > MAX_PARAMS_CHARS:
            out = {"omitted": True}
    event["responseElements"] = out
    request_id = next((v for k, v in resp.headers if k.lower() in ("x-amzn-requestid", "x-amz-request-id")), None)
    event["requestID"] = request_id or (ctx.request_id if ctx is not None else uuid4())
    event["eventID"] = uuid4()
    event["readOnly"] = ro
    res = resources(rec.service, op, params, p.account_id, region)
    if res:
        event["resources"] = res
    event["eventType"] = "AwsApiCall"
    event["managementEvent"] = not data
    event["recipientAccountId"] = p.account_id
    event["eventCategory"] = "Data" if data else "Management"
    if conn.scheme == "https":
        event["tlsDetails"] = {"clientProvidedHostHeader": req.headers.get("host", "")}
    return event
