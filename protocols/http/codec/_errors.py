"""Error encoding: AWS-shaped error responses for every protocol."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from services.errors import ServiceError, ValidationError

from ._model import INVALID_ACTION_TEXT, JSON_ERROR_TYPES
from ._queryjson import query_json_error
from ._shapes import compile_json_encoder, format_violations
from ._types import HttpResponse, Match
from ._values import UTC, xml_escape

if TYPE_CHECKING:
    from . import ServiceCodec

_json_encode = msgspec.json.encode
_JSON_ERROR_NS = {"sqs": "com.amazonaws.sqs#", "cloudwatch": "com.amazonaws.cloudwatch#",
                  "swf": "com.amazonaws.swf.base.model#"}


class OperationNotFound(ServiceError):
    """The request targets a known service (or none) but no known operation.

    ``protocol`` says how to answer; ``encode()`` gives the AWS-shaped error
    (``InvalidAction`` for query, ``UnknownOperationException`` otherwise).
    """

    def __init__(self, message: str = "", *, protocol: str = "json", operation: str | None = None,
                 codec: "ServiceCodec | None" = None):
        if protocol == "query":
            text = INVALID_ACTION_TEXT.get(codec.service_name if codec is not None else "",
                                           "The action {} is not valid for this web service.")
            code, msg = "InvalidAction", text.format(operation)
        else:
            code, msg = "UnknownOperationException", message or (
                f"Unknown operation {operation}" if operation else "Unknown operation")
        super().__init__(msg if operation or protocol != "query" else (message or "Could not find operation"),
                         code=code, status=400)
        self.protocol = protocol
        self.operation = operation
        self.codec = codec

    def encode(self, request_id: str) -> HttpResponse:
        if self.codec is not None:
            return self.codec.encode_error(self.protocol, self, request_id)
        return encode_protocol_error(self.protocol, self, request_id)


class RejectedRequest(OperationNotFound):
    """Input malformed before an operation could be matched (e.g. a form that is not UTF-8):
    answered with `error` in the protocol's error shape, by the service's codec when known."""

    def __init__(self, error: ServiceError, protocol: str, codec: "ServiceCodec | None" = None):
        ServiceError.__init__(self, error.message, code=error.code, status=error.status)
        self.protocol, self.operation, self.codec, self.error = protocol, None, codec, error

    def encode(self, request_id: str) -> HttpResponse:
        if self.codec is not None:
            return self.codec.encode_error(self.protocol, self.error, request_id)
        return encode_protocol_error(self.protocol, self.error, request_id)


class UnknownOperationXml(OperationNotFound):
    """A GET on an SQS queue URL without an Action: AWS answers 404 with a bare XML element."""

    def __init__(self):
        super().__init__("Unknown operation", protocol="query")
        self.status = 404

    def encode(self, request_id: str) -> HttpResponse:
        return HttpResponse(404, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                            b'<?xml version="1.0"?><UnknownOperationException/>')


def _violation_error(errs) -> ValidationError:
    err = ValidationError(format_violations(errs))
    err.violations = errs
    return err


class ErrorsMixin:
    """Service-model-aware error encoding for ``ServiceCodec``."""

    def _build_errors(self):
        self._err_by_name: dict[str, Any] = {}
        self._err_by_code: dict[str, str] = {}
        self._query_code: dict[str, str] = {}
        for model in {id(m): m for m in self._models.values()}.values():
            for sh in model.error_shapes:
                self._err_by_name.setdefault(sh.name, sh)
                code = sh.metadata.get("error", {}).get("code")
                if code:
                    self._err_by_code[code] = sh.name
                    self._query_code[sh.name] = code

    def encode_error(self, match_or_protocol, error: ServiceError, request_id: str) -> HttpResponse:
        protocol = match_or_protocol.protocol if isinstance(match_or_protocol, Match) else match_or_protocol
        code = error.code
        shape_name = code if code in self._err_by_name else self._err_by_code.get(code, code)
        shape = self._err_by_name.get(shape_name)
        query_code = self._query_code.get(shape_name, code)
        if protocol == "query" and getattr(match_or_protocol, "json_answer", False):
            return query_json_error(query_code, error, request_id)
        if protocol in ("query", "rest-xml"):
            return _xml_error(query_code if protocol == "query" else code, error, request_id, self.xml_namespace
                              if protocol == "query" else None)
        msg_key = "Message" if shape is not None and "Message" in shape.members and "message" not in shape.members else "message"
        body: dict = {}
        if shape is not None and error.fields:
            enc = compile_json_encoder(shape, self._cache("cbor-e" if protocol == "smithy-rpc-v2-cbor" else "json-e"),
                                       protocol == "smithy-rpc-v2-cbor", "unixtimestamp")
            body.update(enc({k: v for k, v in error.fields.items() if k in shape.members}))
        if error.message:  # AWS leaves the key out when it has no message (KMS InvalidCiphertext...)
            body[msg_key] = error.message
        headers = [("x-amzn-RequestId", request_id)]
        if self.query_compatible and protocol in ("json", "smithy-rpc-v2-cbor"):
            headers.append(("x-amzn-query-error", f"{query_code};{'Sender' if error.sender_fault else 'Receiver'}"))
        if protocol == "rest-json":
            headers += [("x-amzn-ErrorType", shape_name), ("Content-Type", "application/json")]
            return HttpResponse(error.status, headers, _json_encode(body))
        renamed = JSON_ERROR_TYPES.get(self.service_name, {}).get(code)
        if renamed is not None:
            type_name = _JSON_ERROR_NS.get(self.service_name, "") + renamed
        elif shape is not None:
            type_name = _JSON_ERROR_NS.get(self.service_name, "") + shape_name
        else:
            type_name = shape_name
        body = {"__type": type_name, **body}
        if protocol == "smithy-rpc-v2-cbor":
            import cbor2    # loaded by the first CBOR request, not at start
            headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
            return HttpResponse(error.status, headers, cbor2.dumps(body, datetime_as_timestamp=True, timezone=UTC))
        headers.append(("Content-Type", f"application/x-amz-json-{self.json_version}"))
        return HttpResponse(error.status, headers, _json_encode(body))


def _xml_error(code: str, error: ServiceError, request_id: str, ns: str | None) -> HttpResponse:
    x = f' xmlns="{ns}"' if ns else ""
    body = (f'<?xml version="1.0"?><ErrorResponse{x}><Error><Type>{"Sender" if error.sender_fault else "Receiver"}</Type>'
            f"<Code>{xml_escape(code)}</Code><Message>{xml_escape(error.message)}</Message></Error>"
            f"<RequestId>{xml_escape(request_id)}</RequestId></ErrorResponse>")
    return HttpResponse(error.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode())


def encode_protocol_error(protocol: str, error: ServiceError, request_id: str) -> HttpResponse:
    """Error response without a service model (e.g. no service matched)."""
    if protocol in ("query", "rest-xml"):
        return _xml_error(error.code, error, request_id, None)
    headers = [("x-amzn-RequestId", request_id)]
    body = {"__type": error.code, "message": error.message}
    if protocol == "rest-json":
        headers += [("x-amzn-ErrorType", error.code), ("Content-Type", "application/json")]
        return HttpResponse(error.status, headers, _json_encode({"message": error.message}))
    if protocol == "smithy-rpc-v2-cbor":
        import cbor2
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        return HttpResponse(error.status, headers, cbor2.dumps(body))
    headers.append(("Content-Type", "application/x-amz-json-1.0"))
    return HttpResponse(error.status, headers, _json_encode(body))
