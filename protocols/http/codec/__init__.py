"""Model-driven AWS wire codec (server side).

Requests are decoded and responses encoded from botocore service models for
the ``query``, ``json`` (1.0/1.1), ``rest-json``, ``rest-xml`` and
``smithy-rpc-v2-cbor`` protocols.  Per-operation decoders/encoders are built
once from the shapes (see ``_shapes``) and cached by (protocol, operation) in
the service's codec; ``get_service_codec`` caches one codec per service.
"""
from __future__ import annotations

import copy
import functools
import json as _stdjson
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, unquote_plus
from xml.etree import ElementTree

import cbor2
import msgspec
import botocore.session
from botocore.model import ServiceModel

from services.errors import ServiceError, ValidationError

from ._shapes import (
    build_query_tree, compile_json_decoder, compile_json_encoder, compile_query_decoder,
    compile_validator, compile_xml_decoder, compile_xml_encoder, format_violations,
    scalar_from_str, scalar_to_str,
)
from ._values import UTC, MalformedInput, SerializationError, lower_camel, xml_escape

__all__ = [
    "HttpRequest", "HttpResponse", "Match", "ServiceCodec", "get_service_codec",
    "OperationNotFound", "encode_protocol_error", "SerializationError",
]

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str                 # raw path as received (percent-encoded), no query
    query: str                # raw query string without '?'
    headers: dict[str, str]   # lower-cased header names
    body: bytes


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class Match:
    operation: str
    protocol: str
    uri_params: dict = field(default_factory=dict)
    # query protocol: the already-parsed form/query parameters (a dotted-key tree)
    form: dict | None = None


class OperationNotFound(ServiceError):
    """The request targets a known service (or none) but no known operation.

    ``protocol`` says how to answer; ``encode()`` gives the AWS-shaped error
    (``InvalidAction`` for query, ``UnknownOperationException`` otherwise).
    """

    def __init__(self, message: str = "", *, protocol: str = "json", operation: str | None = None,
                 codec: "ServiceCodec | None" = None):
        if protocol == "query":
            code, msg = "InvalidAction", f"The action {operation} is not valid for this web service."
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


def _violation_error(errs) -> ValidationError:
    err = ValidationError(format_violations(errs))
    err.violations = errs
    return err


# ---------------------------------------------------------------------------
# model loading (+ SQS query overlay)
# ---------------------------------------------------------------------------

_OVERLAY_DIR = Path(__file__).parent / "overlays"
_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "airflow": "mwaa"}
_JSON_ERROR_NS = {"sqs": "com.amazonaws.sqs#", "cloudwatch": "com.amazonaws.cloudwatch#"}


@functools.cache
def _session():
    return botocore.session.get_session()


def _raw_model(name: str) -> dict:
    return _session().get_component("data_loader").load_service_model(name, "service-2")


def _apply_overlay(raw: dict, overlay: dict) -> dict:
    m = copy.deepcopy(raw)
    m["metadata"].update(overlay.get("metadata", {}))
    m["metadata"]["protocols"] = ["query"]
    m["metadata"].pop("awsQueryCompatible", None)
    for op, tr in overlay.get("operations", {}).items():
        if op in m["operations"] and m["operations"][op].get("output"):
            m["operations"][op]["output"].update(tr)
    for name, tr in overlay.get("shapes", {}).items():
        sh = m["shapes"].get(name)
        if sh is None:
            continue
        if tr.get("flattened"):
            sh["flattened"] = True
        if "error" in tr:
            sh["error"] = tr["error"]
        for part in ("member", "key", "value"):
            if part in tr and part in sh:
                sh[part].update(tr[part])
        for mname, mt in tr.get("members", {}).items():
            if mname in sh.get("members", {}):
                sh["members"][mname].update(mt)
    return m


# ---------------------------------------------------------------------------
# compiled operation
# ---------------------------------------------------------------------------

@dataclass(slots=True)
class _Op:
    decode: Callable[[Match, HttpRequest], dict]
    encode: Callable[[dict, str], HttpResponse]


def _parse_form(text: str) -> list[tuple[str, str]]:
    pairs = []
    if not text:
        return pairs
    for part in text.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        if "%" in k or "+" in k:
            k = unquote_plus(k)
        if "%" in v or "+" in v:
            v = unquote_plus(v)
        pairs.append((k, v))
    return pairs


def _parse_qs_multi(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in _parse_form(text):
        out.setdefault(k, []).append(v)
    return out


def _split_header_list(v: str) -> list[str]:
    out, cur, q, esc = [], [], False, False
    for ch in v:
        if esc:
            cur.append(ch); esc = False
        elif ch == "\\" and q:
            esc = True
        elif ch == '"':
            q = not q
        elif ch == "," and not q:
            out.append("".join(cur).strip()); cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def _is_form(request: HttpRequest) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def query_params_of(request: HttpRequest) -> list[tuple[str, str]]:
    pairs = _parse_form(request.query)
    if request.body and (request.method == "POST" and (_is_form(request) or not request.headers.get("content-type"))):
        try:
            pairs += _parse_form(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedInput("Request body is not valid UTF-8", code="MalformedQueryString")
    return pairs


# ---------------------------------------------------------------------------
# service codec
# ---------------------------------------------------------------------------

class ServiceCodec:
    def __init__(self, service_name: str):
        service_name = _ALIASES.get(service_name, service_name)
        self.service_name = service_name
        raw = _raw_model(service_name)
        if service_name == "sqs":  # SQS enforces no enums at the edge: AttributeNames takes message attrs too
            raw = {**raw, "shapes": {k: {a: b for a, b in s.items() if a != "enum"} for k, s in raw["shapes"].items()}}
        self.service_model = ServiceModel(raw, service_name=service_name)
        md = self.service_model.metadata
        self.signing_name = self.service_model.signing_name
        self.endpoint_prefix = self.service_model.endpoint_prefix
        self.target_prefix = md.get("targetPrefix")
        self.protocols = list(md.get("protocols") or [md["protocol"]])
        self.query_compatible = "awsQueryCompatible" in md
        self.json_version = md.get("jsonVersion", "1.0")
        self._models = {p: self.service_model for p in self.protocols}
        overlay = _OVERLAY_DIR / f"{service_name}-query.json"
        if "query" not in self.protocols and overlay.exists():
            self._models["query"] = ServiceModel(_apply_overlay(raw, _stdjson.loads(overlay.read_text())),
                                                 service_name=service_name)
            self.protocols.append("query")
        self.xml_namespace = (self._models.get("query", self.service_model).metadata.get("xmlNamespace")
                              or f"https://{self.endpoint_prefix}.amazonaws.com/doc/{md.get('apiVersion')}/")
        self.operation_names = frozenset(self.service_model.operation_names)
        self._ops: dict[tuple[str, str], _Op] = {}
        self._caches: dict[str, dict] = {}
        self._build_errors()
        self._routes = self._build_rest_routes() if self.rest_protocol else None
        self.host_prefixes = self._collect_host_prefixes()

    # -- metadata helpers -------------------------------------------------
    @property
    def rest_protocol(self) -> str | None:
        for p in self.protocols:
            if p in ("rest-json", "rest-xml"):
                return p
        return None

    def _cache(self, kind: str) -> dict:
        c = self._caches.get(kind)
        if c is None:
            c = self._caches[kind] = {}
        return c

    def _collect_host_prefixes(self) -> set[str]:
        out = set()
        for op in self.operation_names:
            ep = self.service_model.operation_model(op).endpoint
            if ep and ep.get("hostPrefix"):
                static = re.sub(r"\{[^}]*\}\.?", "", ep["hostPrefix"])
                if static:
                    out.add(static)
        return out

    # -- routing ------------------------------------------------------------
    def match(self, request: HttpRequest) -> Match | None:
        h = request.headers
        target = h.get("x-amz-target")
        if target:
            prefix, _, op = target.rpartition(".")
            if self.target_prefix and prefix == self.target_prefix and "json" in self.protocols:
                if op not in self.operation_names:
                    raise OperationNotFound(protocol="json", operation=op, codec=self)
                return Match(op, "json")
            return None
        if request.path.startswith("/service/") and "smithy-rpc-v2-cbor" in self.protocols:
            m = _CBOR_PATH.fullmatch(request.path)
            if m and m.group(1) in (self.target_prefix, self.service_model.service_id, self.service_name):
                op = m.group(2)
                if op not in self.operation_names:
                    raise OperationNotFound(protocol="smithy-rpc-v2-cbor", operation=op, codec=self)
                return Match(op, "smithy-rpc-v2-cbor")
        if "query" in self.protocols and ("Action=" in request.query or (
                request.method == "POST" and _is_form(request) and b"Action=" in request.body)):
            return self.match_query(request, query_params_of(request))
        if self._routes is not None:
            r = self.match_rest(request)
            return r[0] if r else None
        return None

    def match_query(self, request: HttpRequest, pairs) -> Match | None:
        tree = build_query_tree(pairs)
        action = tree.get("Action")
        if not isinstance(action, str):
            return None
        if action not in self.operation_names:
            raise OperationNotFound(protocol="query", operation=action, codec=self)
        uri = {"__path__": request.path} if request.path not in ("", "/") else {}
        return Match(action, "query", uri, tree)

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
                    qkeys = {k: v[0] for k, v in _parse_qs_multi(request.query).items()}
                if any(k not in qkeys or (v is not None and qkeys[k] != v) for k, v in qlits):
                    continue
            return Match(op, proto, dict(zip(labels, m.groups()))), score
        return None

    # -- decode / encode ----------------------------------------------------
    def operation(self, protocol: str, op: str) -> _Op:
        key = (protocol, op)
        c = self._ops.get(key)
        if c is None:
            c = self._ops[key] = self._compile(protocol, op)
        return c

    def decode(self, match: Match, request: HttpRequest) -> dict:
        return self.operation(match.protocol, match.operation).decode(match, request)

    def encode_result(self, match: Match, result: dict, request_id: str) -> HttpResponse:
        return self.operation(match.protocol, match.operation).encode(result or {}, request_id)

    def _compile(self, protocol: str, op: str) -> _Op:
        model = self._models[protocol]
        om = model.operation_model(op)
        ins, outs = om.input_shape, om.output_shape
        vfn = compile_validator(ins, self._cache("validate")) if ins is not None else None

        def validate(params):
            if vfn is not None:
                errs = []
                vfn(params, "", errs)
                if errs:
                    raise _violation_error(errs)
            return params

        if protocol == "json":
            return _Op(*self._compile_json(om, ins, outs, validate, vfn))
        if protocol == "query":
            return _Op(*self._compile_query(om, ins, outs, validate))
        if protocol == "smithy-rpc-v2-cbor":
            return _Op(*self._compile_cbor(om, ins, outs, validate))
        if protocol in ("rest-json", "rest-xml"):
            return _Op(*self._compile_rest(protocol, om, ins, outs, validate))
        raise ValueError(f"unsupported protocol {protocol}")

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
                except msgspec.DecodeError:
                    raise SerializationError("Could not parse request body as JSON")
                if type(data) is not dict:
                    raise SerializationError("Request body must be a JSON object")
            params = dec(data, "") if dec is not None else {}
            if vfn is not None:
                errs = []
                vfn(params, "", errs)
                if errs:
                    raise _violation_error(errs)
            return params

        def encode(result, request_id):
            body = _json_encode(enc(result)) if enc is not None else b"{}"
            return HttpResponse(200, [("Content-Type", ctype), ("x-amzn-RequestId", request_id)], body)
        return decode, encode

    def _compile_cbor(self, om, ins, outs, validate):
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
        return decode, encode

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
                    except msgspec.DecodeError:
                        raise SerializationError("Could not parse request body as JSON")
                    val = body_dec(data, "")
                else:
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
                            out[0] = out[0][:-1] + xmlns + ">"
                        body = ('<?xml version="1.0" encoding="UTF-8"?>' + "".join(out)).encode()
                    headers.append(("Content-Type", ctype))
            elif is_json:
                body = b"{}"
                headers.append(("Content-Type", ctype))
            return HttpResponse(st, headers, body)
        return decode, encode

    # -- errors -------------------------------------------------------------
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
        if protocol in ("query", "rest-xml"):
            return _xml_error(query_code if protocol == "query" else code, error, request_id, self.xml_namespace
                              if protocol == "query" else None)
        msg_key = "Message" if shape is not None and "Message" in shape.members and "message" not in shape.members else "message"
        body: dict = {}
        if shape is not None and error.fields:
            enc = compile_json_encoder(shape, self._cache("cbor-e" if protocol == "smithy-rpc-v2-cbor" else "json-e"),
                                       protocol == "smithy-rpc-v2-cbor", "unixtimestamp")
            body.update(enc({k: v for k, v in error.fields.items() if k in shape.members}))
        body[msg_key] = error.message
        headers = [("x-amzn-RequestId", request_id)]
        if self.query_compatible and protocol in ("json", "smithy-rpc-v2-cbor"):
            headers.append(("x-amzn-query-error", f"{query_code};{'Sender' if error.sender_fault else 'Receiver'}"))
        if protocol == "rest-json":
            headers += [("x-amzn-ErrorType", shape_name), ("Content-Type", "application/json")]
            return HttpResponse(error.status, headers, _json_encode(body))
        type_name = _JSON_ERROR_NS.get(self.service_name, "") + shape_name if shape is not None else shape_name
        body = {"__type": type_name, **body}
        if protocol == "smithy-rpc-v2-cbor":
            headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
            return HttpResponse(error.status, headers, cbor2.dumps(body, datetime_as_timestamp=True, timezone=UTC))
        headers.append(("Content-Type", f"application/x-amz-json-{self.json_version}"))
        return HttpResponse(error.status, headers, _json_encode(body))


_CBOR_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")


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
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        return HttpResponse(error.status, headers, cbor2.dumps(body))
    headers.append(("Content-Type", "application/x-amz-json-1.0"))
    return HttpResponse(error.status, headers, _json_encode(body))


@functools.cache
def get_service_codec(service_name: str) -> ServiceCodec:
    service_name = _ALIASES.get(service_name, service_name)
    return _get(service_name)


@functools.cache
def _get(service_name: str) -> ServiceCodec:
    return ServiceCodec(service_name)
