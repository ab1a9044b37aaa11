"""LocalStack's SQS developer endpoint: a queue's messages, peeked without side effects.

    GET /_aws/sqs/messages?QueueUrl=<url>[&ShowInvisible=true][&ShowDelayed=true]
    GET /_aws/sqs/messages/<region>/<account>/<queue name>[?ShowInvisible=...&ShowDelayed=...]

answer a ReceiveMessage response in SQS's query XML, or with ``Accept: application/json``
the same tree as JSON the way LocalStack writes it (xmltodict's: repeated elements become
a list, a single one an object): every message in queue order, all system attributes,
ApproximateReceiveCount as it is (a peek counts no receive, hides nothing). In-flight
messages only with ShowInvisible (attribute IsVisible on each), delayed ones only with
ShowDelayed (attribute IsDelayed).

An SDK pointed at ``http://host:port/_aws/sqs/messages`` (botocore's endpoint_url, JSON 1.0
or query) is left to the AWS pipeline, which decodes it and calls SqsApi; SqsApi hands
requests on this path to `sdk_request`: ReceiveMessage returns every visible message,
anything else is InvalidRequest.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qsl, unquote

from broker.core.ids import uuid4
from broker.runtime.ipc import RemoteError
from services.errors import ServiceError
from services.sqs._api_messages import MessagesApi
from services.sqs.errors import err
from services.sqs.limits import MESSAGE_SYSTEM_ATTRIBUTES
from services.sqs.urls import entity_key, parse_queue_url

DEV_PATH = "/_aws/sqs/messages"
_NS = "http://queue.amazonaws.com/doc/2012-11-05/"
_NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"
_NO_QUEUE = "The specified queue does not exist."
_ALL = frozenset(MESSAGE_SYSTEM_ATTRIBUTES)
_SCOPE_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
_ACCOUNT = re.compile(r"^\d{12}$")


def escape(text: str) -> str:
    """XML character data (xml.sax.saxutils.escape's rule, without importing it: its
    module pulls in urllib.request, http.client and the email package)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def on_dev_path(path: str) -> bool:
    return path == DEV_PATH or path.startswith(DEV_PATH + "/")


class _Failure(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# -- the SDK form (through SqsApi) --------------------------------------------
async def sdk_request(api, ctx, operation: str, params: dict) -> dict:
    """An SDK request sent to the developer endpoint: ReceiveMessage peeks at every visible
    message (MaxNumberOfMessages, WaitTimeSeconds and AttributeNames do not apply)."""
    if operation != "ReceiveMessage":
        raise err("InvalidRequest", "This endpoint only accepts ReceiveMessage calls")
    key, *_ = api._target(ctx, params)
    rows = await api._call(ctx, key, "sqs.PeekMessages", {})
    return {"Messages": [_message(r, False, False) for r in rows]} if rows else {}


def _message(row, show_invisible: bool, show_delayed: bool) -> dict:
    msg = MessagesApi._message(row[:8], _ALL, ["All"])
    attrs = msg.setdefault("Attributes", {})
    attrs.setdefault("ApproximateFirstReceiveTimestamp", "0")    # never received yet (as LocalStack)
    if show_invisible:
        attrs["IsVisible"] = "true" if row[8] else "false"
    if show_delayed:
        attrs["IsDelayed"] = "true" if row[9] else "false"
    return msg


# -- the HTTP form (admin route) ----------------------------------------------
def _from_sdk(query: dict, headers: dict, body: bytes) -> bool:
    ctype = headers.get("content-type", "")
    if "x-amz-target" in headers or "x-amz-json" in ctype or "Action" in query:
        return True
    return ctype.startswith("application/x-www-form-urlencoded") and "Action" in dict(_form(body))


def _form(body: bytes) -> list:
    try:
        return parse_qsl((body or b"").decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return []


def _flag(values: dict, name: str) -> bool:
    return str(values.get(name, "")).lower() in ("true", "1")


def _target(gateway, path: str, values: dict, headers: dict) -> tuple[str, str, str]:
    """(region, account, name) the request names: by the path or by QueueUrl."""
    rest = path[len(DEV_PATH):].strip("/")
    if rest:
        parts = [unquote(p) for p in rest.split("/")]
        if len(parts) != 3:
            raise _Failure("InvalidAddress", f"The address {path} is not valid for this endpoint.", 404)
        return parts[0], parts[1], parts[2]
    url = values.get("QueueUrl")
    if not url:
        raise _Failure(_NON_EXISTENT, _NO_QUEUE)
    try:
        region, account, name = parse_queue_url(url)
    except ServiceError:
        region = account = None
    if not account:        # not a queue URL (AWS answers such an address InvalidAddress)
        raise _Failure("InvalidAddress", f"The address {url} is not valid for this endpoint.", 404)
    if region is None:     # a region-less URL: the request's signing region, else the default
        m = _SCOPE_REGION.search(headers.get("authorization", ""))
        region = m.group(1) if m else gateway.config.get("aws.default_region", "us-east-1")
    return region, account, name


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    if not on_dev_path(path) or _from_sdk(query, headers, body):
        return None            # not ours, or an SDK's request: the AWS pipeline answers it
    as_json = "application/json" in headers.get("accept", "")
    request_id = uuid4()
    if method not in ("GET", "POST"):
        return _error(_Failure("InvalidRequest", "This endpoint only accepts GET and POST requests", 405),
                      as_json, request_id)
    values = dict(query)
    if method == "POST":
        values.update(_form(body))
    try:
        region, account, name = _target(gateway, path, values, headers)
        if not _ACCOUNT.match(account):
            raise _Failure(_NON_EXISTENT, _NO_QUEUE)
        key = entity_key(region, account, name)
        inv, dly = _flag(values, "ShowInvisible"), _flag(values, "ShowDelayed")
        try:
            rows = await gateway.cluster.call(key, "sqs.PeekMessages", {"k": key, "inv": inv, "dly": dly})
        except RemoteError as exc:
            if exc.code == "QueueDoesNotExist":
                raise _Failure(_NON_EXISTENT, exc.message) from None
            raise _Failure(exc.code, exc.message, exc.status) from None
    except _Failure as exc:
        return _error(exc, as_json, request_id)
    tree = [("ReceiveMessageResult", [("Message", _element(_message(r, inv, dly))) for r in rows]),
            ("ResponseMetadata", [("RequestId", request_id)])]
    return _render("ReceiveMessageResponse", tree, as_json, 200)


def _element(msg: dict) -> list:
    """A ReceiveMessage message as the query protocol's elements, in the model's order."""
    out = [(k, msg[k]) for k in ("MessageId", "ReceiptHandle", "MD5OfBody", "Body")]
    out += [("Attribute", [("Name", k), ("Value", v)]) for k, v in msg.get("Attributes", {}).items()]
    if msg.get("MD5OfMessageAttributes"):
        out.append(("MD5OfMessageAttributes", msg["MD5OfMessageAttributes"]))
    for k, v in (msg.get("MessageAttributes") or {}).items():
        value = []
        if v.get("StringValue") is not None:
            value.append(("StringValue", v["StringValue"]))
        if v.get("BinaryValue") is not None:
            value.append(("BinaryValue", base64.b64encode(v["BinaryValue"]).decode()))
        value.append(("DataType", v["DataType"]))
        out.append(("MessageAttribute", [("Name", k), ("Value", value)]))
    return out


def _error(exc: _Failure, as_json: bool, request_id: str) -> tuple:
    tree = [("Error", [("Type", "Sender"), ("Code", exc.code), ("Message", exc.message)]),
            ("RequestId", request_id)]
    return _render("ErrorResponse", tree, as_json, exc.status)


# -- rendering: one element tree, as XML or as xmltodict's JSON -----------------
def _render(root: str, children: list, as_json: bool, status: int) -> tuple:
    if as_json:
        return status, "application/json", json.dumps({root: _json(children)}).encode()
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _xml(root, children, parts, f' xmlns="{_NS}"' if status == 200 else "")
    return status, "text/xml", "".join(parts).encode()


def _json(children: list):
    """xmltodict's mapping: an element with children is an object, a repeated name a list,
    an empty element null."""
    out: dict = {}
    many: set = set()
    for name, v in children:
        v = _json(v) if isinstance(v, list) else v
        if name not in out:
            out[name] = v
        elif name in many:
            out[name].append(v)
        else:
            out[name] = [out[name], v]
            many.add(name)
    return out or None


def _xml(name: str, v, parts: list, attrs: str = "") -> None:
    if isinstance(v, list):
        if not v:
            parts.append(f"<{name}{attrs}/>")
            return
        parts.append(f"<{name}{attrs}>")
        for child, cv in v:
            _xml(child, cv, parts)
        parts.append(f"</{name}>")
    else:       # \r survives an XML parser only as a character reference (AWS writes &#xD;)
        parts.append(f"<{name}>{escape(str(v)).replace(chr(13), '&#xD;')}</{name}>")
