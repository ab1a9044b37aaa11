"""Wire-level request/response records and the compiled-operation pair."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


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
    # query protocol: the client asked for JSON (Accept: application/json)
    json_answer: bool = False


@dataclass(slots=True)
class _Op:
    decode: Callable[[Match, HttpRequest], dict]
    encode: Callable[[dict, str], HttpResponse]
    encode_json: Callable[[dict, str], HttpResponse] | None = None   # query answered as JSON


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("accept", "")
