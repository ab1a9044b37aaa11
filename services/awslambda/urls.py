"""Function URLs: an HTTP request in, the function's answer out (payload format 2.0).

Each URL config has a listener of its own (opened at runtime on every
gateway, protocol ``lambda-url``); protocols/lambda_runtime hands each
request here. The request becomes AWS's function URL event, the function is
invoked through the Lambda API, and its result becomes the response: a
``{"statusCode", "headers", "body", "isBase64Encoded", "cookies"}`` object,
or any other JSON value as a 200 ``application/json`` body. AuthType
``AWS_IAM`` requires a SigV4 ``Authorization`` header (any, in dev mode);
``NONE`` is open.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl

from broker.core.ids import uuid4
from services.errors import ServiceError

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def _event(args: dict, cfg: dict, method: str, path: str, query: str, headers: dict, body: bytes, peer) -> dict:
    host = headers.get("host", "")
    now = time.time()
    ctype = headers.get("content-type", "")
    text = not body or ctype.startswith(_TEXT_TYPES)
    hdrs = {k: v for k, v in headers.items() if k != "cookie"}
    ev = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": hdrs,
          "requestContext": {
              "accountId": "anonymous" if cfg["AuthType"] == "NONE" else args["a"], "apiId": args["id"],
              "domainName": host, "domainPrefix": args["id"],
              "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                       "sourceIp": peer[0] if peer else "127.0.0.1", "userAgent": headers.get("user-agent", "")},
              "requestId": uuid4(), "routeKey": "$default", "stage": "$default",
              "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000)},
          "isBase64Encoded": not text}
    if headers.get("cookie"):
        ev["cookies"] = [c.strip() for c in headers["cookie"].split(";") if c.strip()]
    if query:
        qs: dict = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            qs[k] = f"{qs[k]},{v}" if k in qs else v
        ev["queryStringParameters"] = qs
    if body:
        ev["body"] = body.decode("utf-8", "replace") if text else base64.b64encode(body).decode()
    return ev


def _response(payload: bytes) -> tuple[int, list, bytes]:
    try:
        doc = json.loads(payload or b"null")
    except ValueError:
        return 200, [("Content-Type", "application/json")], payload
    if isinstance(doc, dict) and "statusCode" in doc:
        headers = [(str(k), str(v)) for k, v in (doc.get("headers") or {}).items()]
        headers += [("Set-Cookie", c) for c in doc.get("cookies") or ()]
        if not any(k.lower() == "content-type" for k, _v in headers):
            headers.append(("Content-Type", "application/json"))
        body = doc.get("body")
        if body is None:
            data = b""
        elif doc.get("isBase64Encoded"):
            data = base64.b64decode(body)
        else:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        return int(doc["statusCode"]), headers, data
    return 200, [("Content-Type", "application/json")], json.dumps(doc).encode()


async def serve(gateway, args: dict, method: str, path: str, query: str, headers: dict, body: bytes,
                peer) -> tuple[int, list, bytes]:
    from services.internal import caller
    cfg = await gateway.cluster.call(args["k"], "lambda.Url", {"k": args["k"], "q": args["q"], "l": f"lambda-url-{args['id']}"})
    if cfg is None:
        return 403, [("Content-Type", "application/json")], b'{"Message":"Forbidden"}'
    if cfg["AuthType"] == "AWS_IAM" and not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
        return 403, [("Content-Type", "application/json")], b'{"Message":"Forbidden"}'
    cors = cfg.get("Cors") or {}
    extra = []
    if cors.get("AllowOrigins"):
        origin = headers.get("origin")
        if origin and ("*" in cors["AllowOrigins"] or origin in cors["AllowOrigins"]):
            extra.append(("Access-Control-Allow-Origin", origin if "*" not in cors["AllowOrigins"] else "*"))
    if method == "OPTIONS" and cors:
        extra += [("Access-Control-Allow-Methods", ",".join(cors.get("AllowMethods") or ["*"])),
                  ("Access-Control-Allow-Headers", ",".join(cors.get("AllowHeaders") or ["*"]))]
        return 200, extra, b""
    ev = _event(args, cfg, method, path, query, headers, body, peer)
    fn = cfg["FunctionArn"]
    try:
        out = await caller(gateway).call("lambda", "Invoke", {"FunctionName": fn, "Payload": json.dumps(ev).encode()},
                                         account=args["a"], region=args["r"])
    except ServiceError as exc:
        if exc.code == "TooManyRequestsException":
            return 429, [("Content-Type", "application/json")], b'{"Message":"Rate Exceeded."}'
        return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    if out.get("FunctionError"):
        return 502, [("Content-Type", "application/json"), *extra], b'{"Message":"Internal Server Error"}'
    status, hdrs, data = _response(out.get("Payload") or b"")
    return status, hdrs + extra, data
