"""CloudWatch Logs filter pattern syntax: terms, JSON and space-delimited patterns."""

from __future__ import annotations

import pytest

from services.logs.patterns import PatternError, compile_pattern

LINES = [
    "ERROR Failed to connect to db",
    "INFO request served in 12 ms",
    "WARN disk almost full",
    '{"level": "error", "latency": 250, "user": {"id": 7, "tags": ["a", "b"]}, "ok": false, "none": null}',
    '{"level": "info", "latency": 20, "user": {"id": 8}, "ok": true}',
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326',
    '10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] "POST /login HTTP/1.1" 200 512',
]


def matching(pattern: str) -> list[int]:
    p = compile_pattern(pattern)
    return [i for i, line in enumerate(LINES) if p.match(line)]


@pytest.mark.parametrize("pattern,expected", [
    ("", list(range(7))),
    ("ERROR", [0]),
    ("ERROR db", [0]),
    ('"Failed to connect"', [0]),
    ("?ERROR ?WARN", [0, 2]),
    ("-INFO ms", []),
    ("served -ERROR", [1]),
    ("error", [3]),                       # case-sensitive
    ("%[0-9]+ ms%", [1]),
])
def test_term_patterns(pattern, expected):
    assert matching(pattern) == expected


@pytest.mark.parametrize("pattern,expected", [
    ('{ $.level = "error" }', [3]),
    ("{ $.latency > 100 }", [3]),
    ("{ $.latency >= 20 && $.latency < 100 }", [4]),
    ('{ ($.level = "info") || ($.user.id = 7) }', [3, 4]),
    ('{ $.level = "err*" }', [3]),
    ('{ $.level != "error" }', [4]),
    ('{ $.user.tags[1] = "b" }', [3]),
    ('{ $.user.tags[*] = "a" }', [3]),
    ("{ $.ok IS FALSE }", [3]),
    ("{ $.ok IS TRUE }", [4]),
    ("{ $.none IS NULL }", [3]),
    ("{ $.none NOT EXISTS }", [4]),
    ("{ $.level = %^inf% }", [4]),
])
def test_json_patterns(pattern, expected):
    assert matching(pattern) == expected


@pytest.mark.parametrize("pattern,expected", [
    ("[ip, id, user, timestamp, request, status_code = 404, size]", [5]),
    ("[ip, id, user, timestamp, request, status_code = 4*, size]", [5]),
    ("[ip, id, user, timestamp, request, status_code, size > 1000]", [5]),
    ("[ip = 10.*, ...]", [6]),
    ("[..., status_code = 200 || status_code = 404, size]", [5, 6]),
    ('[ip, id, user, timestamp, request = "*POST*", ...]', [6]),
])
def test_space_delimited_patterns(pattern, expected):
    assert matching(pattern) == expected


def test_extracted_values():
    p = compile_pattern("[ip, id, user, timestamp, request, status_code, size]")
    vals = p.extract(LINES[5])
    assert vals["$ip"] == "127.0.0.1" and vals["$status_code"] == "404" and vals["$size"] == "2326"
    assert vals["$request"] == "GET /apache_pb.gif HTTP/1.0" and vals["$timestamp"].startswith("10/Oct")
    assert compile_pattern("{ $.latency > 1 }").extract(LINES[3]) == {"$.latency": 250}


@pytest.mark.parametrize("bad", ["{ $.a = }", "{ a = 1 }", "{ $.a = 1", "[a, b", "[a = ]", "foo$bar", "%[%"])
def test_malformed_patterns(bad):
    with pytest.raises(PatternError):
        compile_pattern(bad)
