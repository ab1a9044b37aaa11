"""REST protocols (rest-json, rest-xml): the URI-template route matcher and
per-operation request/response bindings (uri, querystring, header, payload)."""
from __future__ import annotations

import re
from urllib.parse import unquote

import msgspec

from ._request import _parse_qs_multi, _split_header_list
from ._shapes import (
    compile_json_decoder, compile_json_encoder, compile_xml_decoder, compile_xml_encoder,
    scalar_from_str, scalar_to_str,
)
from ._types import HttpRequest, HttpResponse, Match
from ._values import MalformedInput, SerializationError, lower_camel

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


class RestMixin:
    """REST routing (``_build_rest_routes``, ``match_rest``) and ``_compile_rest`` for ``ServiceCodec``."""

    def _build_rest_routes(self):
        routes: dict[str, list] = {}
        proto = self.rest_protocol
        for op in self.operation_names:
            om = self.service_model.operation_model(op)
            uri = om.http.get("requestUri", "/")
            path_t, _, q_t = uri.partition("?")
            labels, rx, literal, greedy = [], ["^"], 0, 0
            for part in re.split(r"(\{[^}]+\})", path_t):
                if part.startswith("{"):
                    name = part[1:-1]
                    if name.endswith("+"):
                        labels.append(name[:-1]); rx.append("(.+)"); greedy += 1
                    else:
                        labels.append(name); rx.append("([^/]+)")
                elif part:
                    rx.append(re.escape(part)); literal += len(part.strip("/")) + 0
            if not path_t.endswith("/"):
                rx.append("/?")
            rx.append("$")
            qlits, rheaders = [], []
            for item in q_t.split("&"):
                if item:
                    k, eq, v = item.partition("=")
                    qlits.append((k, v if eq else None))
            ins = om.input_shape
            if ins is not None:  # required querystring members disambiguate equal templates (S3 UploadPart)
                for r in ins.required_members:
                    ms = ins.members[r]
                    if ms.serialization.get("location") == "querystring" and ms.type_name != "map":
                        key = ms.serialization.get("name", r)
                        if all(k != key for k, _ in qlits):
                            qlits.append((key, None))
                    elif ms.serialization.get("location") == "header":
                        rheaders.append(ms.serialization.get("name", r).lower())
            score = (literal + 100 * len([s for s in path_t.split("/") if s and "{" not in s]),
                     len(qlits) + len(rheaders), -greedy, -len(labels))
            routes.setdefault(om.http.get("method", "POST"), []).append(
                (score, re.compile("".join(rx)).match, tuple(labels), tuple(qlits), tuple(rheaders), op, proto))
        for lst in routes.values():
            lst.sort(key=lambda r: r[0], reverse=True)
        return routes

    def match_rest(self, request: HttpRequest) -> tuple[Match, tuple] | None:
        cands = self._routes.get(request.method)
        if not cands:
            return None
        qkeys = None
        for score, rx, labels, qlits, rheaders, op, proto in cands:
            m = rx(request.path)
            if m is None:
                continue
            if rheaders and any(h not in request.headers for h in rheaders):
                continue
            if qlits:
                if qkeys is None:
                    try:
                        qkeys = {k: v[0] for k, v in _parse_qs_multi(request.query).items()}
                    except MalformedInput:
                        qkeys = {}   # decode() answers it, once an operation is chosen
                if any(k not in qkeys or (v is not None and qkeys[k] != v) for k, v in qlits):
                    continue
            return Match(op, proto, dict(zip(labels, m.groups()))), score
        return None

    def _compile_rest(self, protocol, om, ins, outs, validate):
        is_json = protocol == "rest-json"
        uri_m, qs_m, hdr_m, hdrs_m = [], [], [], []
        qs_map = None
        payload_name = payload_kind = body_dec = None
        if ins is not None:
            for name, ms in ins.members.items():
                loc = ms.serialization.get("location")
                key = ms.serialization.get("name", name)
                camel = lower_camel(name)
                if loc == "uri":
                    uri_m.append((name, key, camel, scalar_from_str(ms)))
                elif loc == "querystring":
                    if ms.type_name == "map":
                        qs_map = (name, ms.value.type_name == "list")
                    elif ms.type_name == "list":
                        qs_m.append((name, key, camel, scalar_from_str(ms.member), True))
                    else:
                        qs_m.append((name, key, camel, scalar_from_str(ms), False))
                elif loc == "header":
                    if ms.type_name == "list":
                        hdr_m.append((name, key.lower(), camel, scalar_from_str(ms.member), True))
                    else:
                        hdr_m.append((name, key.lower(), camel, scalar_from_str(ms), False))
                elif loc == "headers":
                    hdrs_m.append((name, key.lower()))
            payload_name = ins.serialization.get("payload")
            if payload_name:
                pshape = ins.members[payload_name]
                payload_kind = pshape.type_name
                if payload_kind == "structure" or payload_kind == "union":
                    body_dec = (compile_json_decoder(pshape, self._cache("json-d"), False) if is_json
                                else compile_xml_decoder(pshape, self._cache("xml-d")))
            else:
                body_dec = (compile_json_decoder(ins, self._cache("json-d"), False) if is_json
                            else compile_xml_decoder(ins, self._cache("xml-d")))

        def decode(match, request):
            params: dict = {}
            up = match.uri_params
            for name, key, camel, conv in uri_m:
                raw = up.get(key)
                if raw is not None:
                    params[name] = conv(unquote(raw), camel)
            if qs_m or qs_map:
                qs = _parse_qs_multi(request.query)
                used = set()
                for name, key, camel, conv, is_list in qs_m:
                    vals = qs.get(key)
                    if vals is not None:
                        used.add(key)
                        params[name] = [conv(v, camel) for v in vals] if is_list else conv(vals[0], camel)
                if qs_map:
                    rest = {k: (v if qs_map[1] else v[0]) for k, v in qs.items() if k not in used}
                    if rest:
                        params[qs_map[0]] = rest
            headers = request.headers
            for name, key, camel, conv, is_list in hdr_m:
                v = headers.get(key)
                if v is not None:
                    params[name] = [conv(x, camel) for x in _split_header_list(v)] if is_list else conv(v, camel)
            for name, prefix in hdrs_m:
                d = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
                if d:
                    params[name] = d
            body = request.body
            if payload_name and payload_kind in ("blob", "string"):
                if body:
                    params[payload_name] = body if payload_kind == "blob" else body.decode("utf-8", "replace")
            elif body_dec is not None and body:
                if is_json:
                    try:
                        data = _json_decode(body)
                    except (msgspec.DecodeError, RecursionError):
                        raise SerializationError("Could not parse request body as JSON") from None
                    val = body_dec(data, "")
                else:
                    from xml.etree import ElementTree    # rest-xml bodies only: no preloaded service has one
                    try:
                        root = ElementTree.fromstring(body)
                    except ElementTree.ParseError:
                        raise MalformedInput("The XML you provided was not well-formed", code="MalformedXML")
                    val = body_dec(root, "")
                if payload_name:
                    params[payload_name] = val
                else:
                    val.update(params)
                    params = val
            return validate(params)

        # ---- response
        status = om.http.get("responseCode", 200)
        o_hdr, o_hdrs, o_status = [], [], None
        o_payload = o_payload_kind = body_enc = None
        root_tag = None
        if outs is not None:
            for name, ms in outs.members.items():
                loc = ms.serialization.get("location")
                key = ms.serialization.get("name", name)
                if loc == "header":
                    if ms.type_name == "list":
                        inner = scalar_to_str(ms.member, "rfc822")
                        o_hdr.append((name, key, lambda v, f=inner: ",".join(
                            f'"{x}"' if ("," in f(x) or '"' in f(x)) else f(x) for x in v)))
                    else:
                        o_hdr.append((name, key, scalar_to_str(ms, "rfc822")))
                elif loc == "headers":
                    o_hdrs.append((name, key))
                elif loc == "statusCode":
                    o_status = name
            o_payload = outs.serialization.get("payload")
            if o_payload:
                ps = outs.members[o_payload]
                o_payload_kind = ps.type_name
                if o_payload_kind in ("structure", "union"):
                    body_enc = (compile_json_encoder(ps, self._cache("json-e"), False, "unixtimestamp") if is_json
                                else compile_xml_encoder(ps, self._cache("xml-e")))
                    root_tag = ps.serialization.get("name", ps.name)
            else:
                has_body = any(ms.serialization.get("location") is None for ms in outs.members.values())
                if has_body:
                    body_enc = (compile_json_encoder(outs, self._cache("json-e"), False, "unixtimestamp")
                                if is_json else compile_xml_encoder(outs, self._cache("xml-e")))
                    root_tag = outs.serialization.get("name", outs.name)
        ctype = "application/json" if is_json else "application/xml"
        xmlns = f' xmlns="{self.xml_namespace}"' if not is_json and self.service_model.metadata.get("xmlNamespace") else ""

        def encode(result, request_id):
            headers = [("x-amzn-RequestId", request_id)]
            st = status
            for name, key, conv in o_hdr:
                v = result.get(name)
                if v is not None:
                    headers.append((key, conv(v)))
            for name, prefix in o_hdrs:
                for k, v in (result.get(name) or {}).items():
                    headers.append((prefix + k, str(v)))
            if o_status and result.get(o_status) is not None:
                st = int(result[o_status])
            body = b""
            if o_payload and o_payload_kind in ("blob", "string"):
                v = result.get(o_payload)
                if v is not None:
                    body = v.encode() if isinstance(v, str) else bytes(v)
                    headers.append(("Content-Type", "application/octet-stream" if o_payload_kind == "blob" else "text/plain"))
            elif body_enc is not None:
                v = result.get(o_payload) if o_payload else result
                if v is not None:
                    if is_json:
                        body = _json_encode(body_enc(v))
                    else:
                        out: list = []
                        body_enc(out, root_tag, v)
                        if xmlns and 'xmlns="' not in out[0]:
                            end = "/>" if out[0].endswith("/>") else ">"
                            out[0] = out[0][:-len(end)] + xmlns + end
                        body = ('<?xml version="1.0" encoding="UTF-8"?>' + "".join(out)).encode()
                    headers.append(("Content-Type", ctype))
            elif is_json:
                body = b"{}"
                headers.append(("Content-Type", ctype))
            return HttpResponse(st, headers, body)
        return decode, encode
