"""Calling the services this broker hosts from a Task state.

Optimized integrations (`arn:aws:states:::sqs:sendMessage`) and AWS SDK
integrations (`arn:aws:states:::aws-sdk:sqs:sendMessage`) both become one
operation of the target service's gateway half, through
services/internal.py (same validation and errors as a client call). This
module shapes the request the way Step Functions does (PascalCase
parameters matched to the API's members, objects serialised where the API
wants a string) and the result (PascalCase members, plus the SdkHttpMetadata
block of optimized integrations), and maps the service's errors to AWS's
task failure names (`SQS.QueueDoesNotExistException`,
`Sqs.QueueDoesNotExistException`, `SQS.AmazonSQSException`, ...).
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from email.utils import formatdate

from broker.core.ids import uuid4
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import to_json
from services.stepfunctions.asl.resources import OPTIMIZED_SERVICE, SDK_PREFIX, SYNC, SYNC2, Resource

# optimized integrations whose result carries SdkHttpMetadata, with the Content-Type AWS records
_HTTP_META_SERVICES = {"sqs": "application/x-amz-json-1.0", "sns": "text/xml", "states": "application/x-amz-json-1.0",
                       "dynamodb": "application/x-amz-json-1.0"}


@functools.lru_cache(maxsize=64)
def _service_model(name: str):
    import botocore.session
    return botocore.session.get_session().get_service_model(name)


def _operation(service: str, op: str):
    model = _service_model(service)
    if op not in model.operation_names:
        return None
    return model.operation_model(op)


def to_api(shape, value):
    """Step Functions parameters -> botocore params of `shape` (member names matched case-insensitively)."""
    if shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return value
        members = {k.lower(): k for k in shape.members}
        out = {}
        for k, v in value.items():
            name = members.get(k.lower(), k)
            out[name] = to_api(shape.members.get(name), v)
        return out
    if t == "list":
        return [to_api(shape.member, v) for v in value] if isinstance(value, list) else value
    if t == "map":
        return {k: to_api(shape.value, v) for k, v in value.items()} if isinstance(value, dict) else value
    if t == "string" and isinstance(value, (dict, list)):
        return to_json(value)
    if t == "blob" and isinstance(value, str):
        return value.encode()
    if t == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000.0 if value > 1e11 else value, tz=timezone.utc)
    return value


def from_api(shape, value):
    """botocore output -> Step Functions result (PascalCase members, epoch-millisecond dates)."""
    if value is None:
        return None
    t = shape.type_name if shape is not None else None
    if t == "structure" and isinstance(value, dict):
        out = {}
        for k, v in value.items():
            ms = shape.members.get(k)
            out[k[:1].upper() + k[1:]] = from_api(ms, v)
        return out
    if t == "list" and isinstance(value, list):
        return [from_api(shape.member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: from_api(shape.value, v) for k, v in value.items()}
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if t == "timestamp" and isinstance(value, (int, float)):
        return int(value * 1000) if value < 1e11 else int(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def _http_metadata(result: dict, ctype: str = "application/x-amz-json-1.0") -> dict:
    rid = uuid4()
    length = str(len(to_json(result)))
    date = formatdate(usegmt=True)
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {"x-amzn-RequestId": [rid], "connection": ["keep-alive"], "Content-Length": [length],
                               "Date": [date], "Content-Type": [ctype]},
            "HttpHeaders": {"connection": "keep-alive", "Content-Length": length, "Content-Type": ctype,
                            "Date": date, "x-amzn-RequestId": rid},
            "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": rid},
    }


def _error_name(res: Resource, code: str, modeled: bool) -> str:
    if res.kind == "sdk":
        prefix = SDK_PREFIX.get(res.service, res.service[:1].upper() + res.service[1:])
        if not modeled:
            return f"{prefix}.{prefix}Exception"
        return f"{prefix}.{code if code.endswith('Exception') else code + 'Exception'}"
    _svc, sdk_name, prefix = OPTIMIZED_SERVICE.get(res.service, (res.service, res.service, res.service))
    if not modeled:
        return f"{prefix}.{sdk_name}Exception"
    return f"{prefix}.{code if code.endswith('Exception') else code + 'Exception'}"


def _cause(res: Resource, message: str, code: str, status: int) -> str:
    rid = uuid4()
    if res.kind == "sdk":
        prefix = SDK_PREFIX.get(res.service, res.service[:1].upper() + res.service[1:])
        return f"{message} (Service: {prefix}, Status Code: {status}, Request ID: {rid})"
    _svc, sdk_name, _prefix = OPTIMIZED_SERVICE.get(res.service, (res.service, res.service, res.service))
    return (f"{message} (Service: {sdk_name}; Status Code: {status}; Error Code: {code}; Request ID: {rid}; "
            "Proxy: null)")


def task_error(res: Resource, service: str, op_model, exc) -> StatesError:
    """A service error -> the Error/Cause a Task state fails with."""
    code = getattr(exc, "code", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    status = getattr(exc, "status", 400) or 400
    modeled = False
    if op_model is not None:
        try:
            names = {s.name for s in _service_model(service).error_shapes}
        except Exception:
            names = set()
        modeled = code in names or code + "Exception" in names
    return StatesError(_error_name(res, code, modeled), _cause(res, message, code, status), task=True)


async def invoke(engine, ex, res: Resource, params, *, task_token: str | None = None, parent: dict | None = None,
                 trace: str | None = None, credentials: str | None = None):
    """Run the integration; returns the Step Functions result or raises StatesError.
    `trace`: the X-Ray header to pass on (default: the execution's); `credentials`: the
    task's Credentials role (the call runs as it, in its account)."""
    from services.internal import caller
    if res.kind == "lambda":
        service, op_name = "lambda", "Invoke"
        api_params = {"FunctionName": res.arn, "Payload": to_json(params).encode()}
    else:
        service, op_name = res.botocore_service, res.operation
        op_model = _operation(service, op_name)
        if op_model is None:
            raise StatesError(E.RUNTIME, f"The resource provided {res.arn} is not recognized.")
        api_params = to_api(op_model.input_shape, params if isinstance(params, dict) else {})
        if service == "stepfunctions" and op_name == "StartExecution":
            if "input" not in api_params or api_params.get("input") is None:
                api_params["input"] = "{}"
            if parent is not None:
                api_params["__parent"] = parent
        elif service == "events" and op_name == "PutEvents" and res.kind == "service":
            for entry in api_params.get("Entries") or ():     # the optimized call names the execution
                if isinstance(entry, dict):
                    entry["Resources"] = [*(entry.get("Resources") or ()), ex.rec["sm"], ex.arn]
    account = ex.account
    if credentials:
        p = credentials.split(":")
        account = p[4] if len(p) > 5 and p[4] else account
    try:
        # made as the state machine's role, or as the task's Credentials role assumed by it
        # (evaluated when IAM is enforced: services/iam/service_roles.py)
        svc_caller = caller(engine.host)
        out = await svc_caller.call(service, op_name, api_params, account=account, region=ex.region,
                                    source_arn=ex.arn, trace_header=trace or ex.rec.get("trace"),
                                    role_arn=ex.rec.get("role"), task_role=credentials)
        if res.pattern in (SYNC, SYNC2) and service == "stepfunctions" and out.get("executionArn"):
            # .sync watches the child as the same role: it needs states:DescribeExecution on it
            await svc_caller.authorize("stepfunctions", "DescribeExecution", {"executionArn": out["executionArn"]},
                                       account=account, region=ex.region, source_arn=ex.arn,
                                       role_arn=ex.rec.get("role"), task_role=credentials)
    except Exception as exc:  # ServiceError / RemoteError from the target service
        code = getattr(exc, "code", None)
        if code is None:
            raise
        from services.iam.service_roles import RoleNotAssumable
        if isinstance(exc, RoleNotAssumable):
            raise StatesError(E.TASK_FAILED, exc.message, task=True) from None
        if code == "NotImplemented" and res.kind == "lambda":
            raise StatesError("Lambda.ResourceNotFoundException",
                              f"Function not found: {res.arn} (Service: AWSLambda; Status Code: 404; Error Code: "
                              f"ResourceNotFoundException; Request ID: {uuid4()}; Proxy: null)", task=True) from None
        op_model = None if res.kind == "lambda" else _operation(service, op_name)
        raise task_error(res, service, op_model, exc) from None
    if service == "lambda" and op_name == "Invoke":
        payload = out.get("Payload")
        text = payload.decode() if isinstance(payload, (bytes, bytearray)) else payload
        from services.stepfunctions.asl.jsonpath import from_json
        if out.get("FunctionError"):        # the function failed: its errorType is the state's error
            try:
                doc = from_json(text) if text else {}
            except Exception:
                doc = {}
            name = doc.get("errorType") if isinstance(doc, dict) else None
            raise StatesError(name or "Lambda.Unknown", text or "", task=True)
        if res.kind == "lambda":
            return from_json(text) if text else None
        try:
            out = {**out, "Payload": from_json(text) if text else None}
        except Exception:
            out = {**out, "Payload": text}
        op_model = _operation(service, op_name)
        result = {k: v for k, v in out.items() if k in ("ExecutedVersion", "Payload", "StatusCode")}
        result.update(_http_metadata(result, "application/json"))
        return result
    op_model = _operation(service, op_name)
    result = from_api(op_model.output_shape, out) or {}
    if res.kind == "service" and service == "events" and op_name == "PutEvents" and result.get("FailedEntryCount"):
        raise StatesError("EventBridge.FailedEntry", to_json(result), task=True)
    if res.kind == "service" and res.service in _HTTP_META_SERVICES and res.pattern not in (SYNC, SYNC2):
        result.update(_http_metadata(result, _HTTP_META_SERVICES[res.service]))
    elif res.kind == "service" and res.pattern in (SYNC, SYNC2):
        result.update(_http_metadata(result))
    return result
