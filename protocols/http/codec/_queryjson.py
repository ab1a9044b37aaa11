"""Query-protocol answers as JSON, for requests that send ``Accept: application/json``.

AWS's query services answer such a request with the XML document's structure in
JSON: ``{"<Op>Response": {"<Op>Result": {...}, "ResponseMetadata": {"RequestId": ...}}}``,
members under their model names, lists as arrays, maps as arrays of
``{<key name>: k, <value name>: v}`` (the names the XML uses), and errors as
``{"Error": {"Type", "Code", "Message"}, "RequestId"}``.
"""
from __future__ import annotations

import msgspec

from ._common import _cached, _key
from ._scalars import scalar_to_str
from ._types import HttpResponse

_json_encode = msgspec.json.encode
_HEADERS = ("Content-Type", "application/json")


@_cached
def compile_query_json_encoder(shape, cache):
    """fn(python value) -> JSON-able value in the query-JSON layout."""
    t = shape.type_name
    if t == "structure":
        members: list = []

        def j_struct(v):
            return {name: (None if v.get(name) is None else fn(v[name])) for name, fn in members}
        cache[(_key(shape),)] = j_struct
        for name, ms in shape.members.items():
            members.append((name, compile_query_json_encoder(ms, cache)))
        return j_struct
    if t == "list":
        item = compile_query_json_encoder(shape.member, cache)
        return lambda v: [item(x) for x in v]
    if t == "map":
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        vf = compile_query_json_encoder(shape.value, cache)
        return lambda v: [{kname: k, vname: None if x is None else vf(x)} for k, x in v.items()]
    if t in ("string", "boolean", "integer", "long"):
        return lambda v: v
    conv = scalar_to_str(shape, "iso8601")
    return conv


def query_json_answer(op_name: str, wrapper: str | None, enc, result: dict, request_id: str) -> HttpResponse:
    body: dict = {}
    if enc is not None:
        if wrapper:
            body[wrapper] = enc(result)
        else:
            body.update(enc(result))
    body["ResponseMetadata"] = {"RequestId": request_id}
    return HttpResponse(200, [_HEADERS, ("x-amzn-RequestId", request_id)], _json_encode({f"{op_name}Response": body}))


def query_json_error(code: str, error, request_id: str) -> HttpResponse:
    doc = {"Error": {"Type": "Sender" if error.sender_fault else "Receiver", "Code": code, "Message": error.message},
           "RequestId": request_id}
    return HttpResponse(error.status, [_HEADERS, ("x-amzn-RequestId", request_id)], _json_encode(doc))
