"""Drive real botocore clients against the codec without a network.

A ``before-send`` hook turns botocore's prepared request into an
``HttpRequest``, lets the test's handler answer with an ``HttpResponse`` and
feeds that back to botocore, so botocore's own serializers and parsers are
the oracle on both sides.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.config import Config

from protocols.http.codec import HttpRequest, HttpResponse


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kw):
        yield self._body

    def read(self, *a):
        b, self._body = self._body, b""
        return b


def to_http_request(request) -> HttpRequest:
    url = urlsplit(request.url)
    headers = {}
    for k, v in request.headers.items():
        headers[k.lower()] = v.decode() if isinstance(v, bytes) else v
    headers.setdefault("host", url.netloc)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(request.method, url.path or "/", url.query, headers, bytes(body))


def to_aws_response(url: str, resp: HttpResponse) -> AWSResponse:
    h = HeadersDict()
    for k, v in resp.headers:
        h[k] = v
    h["Content-Length"] = str(len(resp.body))
    return AWSResponse(url, resp.status, h, _Raw(resp.body))


def make_client(service: str, handler, endpoint_url: str | None = None, region: str = "us-east-1",
                session=None, **config):
    session = session or botocore.session.get_session()
    client = session.create_client(
        service, region_name=region, endpoint_url=endpoint_url,
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, **config))

    def before_send(request, **kwargs):
        return to_aws_response(request.url, handler(to_http_request(request)))
    client.meta.events.register("before-send", before_send)
    return client
