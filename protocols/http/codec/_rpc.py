"""Per-operation compilers for the RPC protocols: json 1.0/1.1, smithy-rpc-v2-cbor, query."""
from __future__ import annotations

import msgspec

from ._request import query_params_of
from ._shapes import (
    build_query_tree, compile_json_decoder, compile_json_encoder, compile_query_decoder,
    compile_xml_encoder,
)
from ._queryjson import compile_query_json_encoder, query_json_answer
from ._types import HttpResponse
from ._values import UTC, SerializationError, xml_escape

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class RpcMixin:
    """``_compile_json`` / ``_compile_cbor`` / ``_compile_query`` for ``ServiceCodec``."""

    def _compile_json(self, om, ins, outs, validate, vfn):
        dec = compile_json_decoder(ins, self._cache("json-d"), False) if ins is not None else None
        enc = compile_json_encoder(outs, self._cache("json-e"), False, "unixtimestamp") if outs is not None else None
        ctype = f"application/x-amz-json-{self.json_version}"

        def decode(match, request):
            body = request.body
            if not body or dec is None:
                data = {}
            else:
                try:
                    data = _json_decode(body)
                except (msgspec.DecodeError, RecursionError):
                    # RecursionError: nesting deeper than the decoder's bound, as malformed as bad syntax
                    raise SerializationError("Could not parse request body as JSON") from None
                if type(data) is not dict:
                    raise SerializationError("Request body must be a JSON object")
            return validate(dec(data, "") if dec is not None else {})

        def encode(result, request_id):
            body = _json_encode(enc(result)) if enc is not None else b"{}"
            return HttpResponse(200, [("Content-Type", ctype), ("x-amzn-RequestId", request_id)], body)
        return decode, encode

    def _compile_cbor(self, om, ins, outs, validate):
        import cbor2    # here, not at start: only a CBOR service's first operation needs it
        dec = compile_json_decoder(ins, self._cache("cbor-d"), True) if ins is not None else None
        enc = compile_json_encoder(outs, self._cache("cbor-e"), True, "unixtimestamp") if outs is not None else None
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]

        def decode(match, request):
            data = {}
            if request.body and dec is not None:
                try:
                    data = cbor2.loads(request.body)
                except Exception:
                    raise SerializationError("Could not parse request body as CBOR")
                if type(data) is not dict:
                    raise SerializationError("Request body must be a CBOR map")
            return validate(dec(data, "") if dec is not None else {})

        def encode(result, request_id):
            body = cbor2.dumps(enc(result) if enc is not None else {}, datetime_as_timestamp=True, timezone=UTC)
            return HttpResponse(200, headers + [("x-amzn-RequestId", request_id)], body)
        return decode, encode

    def _compile_query(self, om, ins, outs, validate):
        dec = compile_query_decoder(ins, self._cache("query-d")) if ins is not None else None
        enc = compile_xml_encoder(outs, self._cache("xml-e")) if outs is not None else None
        wrapper = outs.serialization.get("resultWrapper") if outs is not None else None
        name = om.name
        fill_url = ins is not None and "QueueUrl" in ins.members
        head = f'<?xml version="1.0"?><{name}Response xmlns="{self.xml_namespace}">'
        tail = f"</{name}Response>"

        def decode(match, request):
            tree = match.form
            if tree is None:
                tree = build_query_tree(query_params_of(request))
            params = dec(tree, "") if dec is not None else {}
            if fill_url and "QueueUrl" not in params and "__path__" in match.uri_params:
                # SQS query requests POSTed to the queue URL may omit QueueUrl.
                host = request.headers.get("host", "localhost")
                params["QueueUrl"] = f"http://{host}{match.uri_params['__path__']}"
            return validate(params)

        jenc = compile_query_json_encoder(outs, self._cache("query-json")) if outs is not None else None

        def encode_json(result, request_id):
            return query_json_answer(name, wrapper, jenc, result, request_id)

        def encode(result, request_id):
            out = [head]
            if enc is not None:
                if wrapper:
                    enc(out, wrapper, result)
                else:
                    tmp: list = []
                    enc(tmp, "x", result)
                    out.extend(tmp[1:-1])
            out.append(f"<ResponseMetadata><RequestId>{xml_escape(request_id)}</RequestId></ResponseMetadata>")
            out.append(tail)
            return HttpResponse(200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                                "".join(out).encode())
        return decode, encode, encode_json
