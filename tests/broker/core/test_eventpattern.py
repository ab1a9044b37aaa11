"""The event-pattern language: table-driven matches, non-matches and exact errors.

Every row is (pattern, document, expected). Errors are compared whole,
parser location included, because AWS's InvalidEventPatternException
messages quote it.
"""

from __future__ import annotations

import json

import pytest

from broker.core.eventpattern import EventPattern, InvalidPattern

BASE = {"id": "1", "source": "orders", "detail-type": "Order Placed", "account": "111122223333",
        "region": "eu-west-1", "time": "2024-03-01T10:00:00Z", "resources": ["arn:x:1", "arn:x:2"]}


def ev(**detail):
    return {**BASE, "detail": detail}


MATCHES = [
    # exact values; numbers compare as numbers, never as strings
    ("plain string", {"source": ["orders"]}, BASE, True),
    ("one of several", {"source": ["billing", "orders"]}, BASE, True),
    ("string is not number", {"detail": {"n": [5]}}, ev(n="5"), False),
    ("int equals float", {"detail": {"n": [5]}}, ev(n=5.0), True),
    ("float pattern int value", {"detail": {"n": [300.0]}}, ev(n=3e2), True),
    ("exponent forms", {"detail": {"n": [9.018e2]}}, ev(n=901.8), True),
    ("bool true", {"detail": {"b": [True]}}, ev(b=True), True),
    ("bool is not string", {"detail": {"b": [True]}}, ev(b="true"), False),
    ("null matches null", {"detail": {"s": [None]}}, ev(s=None), True),
    ("null is not missing", {"detail": {"s": [None]}}, ev(), False),
    ("empty string", {"detail": {"s": [""]}}, ev(s=""), True),
    ("key case sensitive", {"Source": ["orders"]}, BASE, False),
    # arrays: any element of the document's array
    ("array intersection", {"resources": ["arn:x:2", "arn:y"]}, BASE, True),
    ("array no intersection", {"resources": ["arn:y"]}, BASE, False),
    ("empty array is no value", {"resources": [None]}, {**BASE, "resources": []}, False),
    ("array of objects, same element", {"detail": {"items": {"sku": ["a"], "qty": [1]}}},
     ev(items=[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]), True),
    ("array of objects, split across elements", {"detail": {"items": {"sku": ["a"], "qty": [2]}}},
     ev(items=[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]), False),
    ("exists inside array element", {"detail": {"a": {"id": [{"exists": True}]}}},
     ev(a=[{"k": 1}, {"id": "x"}]), True),
    # dotted keys join like nesting, on both sides
    ("dotted pattern key", {"detail": {"state.status": ["running"]}}, ev(state={"status": "running"}), True),
    ("dotted event key", {"detail": {"state": {"status": ["running"]}}}, ev(**{"state.status": "running"}), True),
    ("dotted wrong depth", {"detail": {"state.status": {"status": ["running"]}}},
     ev(state={"status": "running"}), False),
    ("json in a string is a string", {"detail": {"k": ["v"]}}, {**BASE, "detail": '{"k": "v"}'}, False),
    # prefix / suffix, plain and ignoring case
    ("prefix", {"time": [{"prefix": "2024-03"}]}, BASE, True),
    ("prefix no", {"time": [{"prefix": "2023"}]}, BASE, False),
    ("empty prefix matches any string", {"detail": {"s": [{"prefix": ""}]}}, ev(s="abc"), True),
    ("prefix never matches numbers", {"detail": {"n": [{"prefix": "1"}]}}, ev(n=12), False),
    ("prefix ignore case", {"detail-type": [{"prefix": {"equals-ignore-case": "ORDER"}}]}, BASE, True),
    ("suffix", {"detail": {"f": [{"suffix": ".png"}]}}, ev(f="a.png"), True),
    ("suffix no", {"detail": {"f": [{"suffix": ".png"}]}}, ev(f="a.PNG"), False),
    ("suffix ignore case", {"detail": {"f": [{"suffix": {"equals-ignore-case": ".png"}}]}}, ev(f="A.PNG"), True),
    ("empty suffix", {"detail": {"f": [{"suffix": ""}]}}, ev(f="x"), True),
    # equals-ignore-case
    ("ignore case", {"detail-type": [{"equals-ignore-case": "order PLACED"}]}, BASE, True),
    ("ignore case no", {"detail-type": [{"equals-ignore-case": "order"}]}, BASE, False),
    ("ignore case empty", {"detail": {"s": [{"equals-ignore-case": ""}]}}, ev(s=""), True),
    ("ignore case empty vs text", {"detail": {"s": [{"equals-ignore-case": ""}]}}, ev(s="x"), False),
    # wildcard, with escapes
    ("wildcard", {"detail": {"arn": [{"wildcard": "arn:aws:events:*:*:event-bus/*"}]}},
     ev(arn="arn:aws:events:us-east-1:123:event-bus/b"), True),
    ("wildcard no", {"detail": {"p": [{"wildcard": "*/dir/*"}]}}, ev(p="a/other/b"), False),
    ("wildcard star alone", {"detail": {"p": [{"wildcard": "*"}]}}, ev(p=""), True),
    ("wildcard empty vs text", {"detail": {"p": [{"wildcard": ""}]}}, ev(p="x"), False),
    ("escaped star is literal", {"detail": {"p": [{"wildcard": "a\\*b"}]}}, ev(p="a*b"), True),
    ("escaped star not wildcard", {"detail": {"p": [{"wildcard": "a\\*b"}]}}, ev(p="axxb"), False),
    ("escaped backslash", {"detail": {"p": [{"wildcard": "a\\\\b"}]}}, ev(p="a\\b"), True),
    ("wildcard on number", {"detail": {"p": [{"wildcard": "*"}]}}, ev(p=1), False),
    # anything-but, every form
    ("anything-but string", {"detail": {"s": [{"anything-but": "x"}]}}, ev(s="y"), True),
    ("anything-but string no", {"detail": {"s": [{"anything-but": "x"}]}}, ev(s="x"), False),
    ("anything-but accepts null", {"detail": {"s": [{"anything-but": "x"}]}}, ev(s=None), True),
    ("anything-but needs a value", {"detail": {"s": [{"anything-but": "x"}]}}, ev(), False),
    ("anything-but list", {"detail": {"s": [{"anything-but": ["x", "y"]}]}}, ev(s="y"), False),
    ("anything-but number", {"detail": {"n": [{"anything-but": 0}]}}, ev(n=789), True),
    ("anything-but number no", {"detail": {"n": [{"anything-but": [1, 2.5]}]}}, ev(n=2.5), False),
    ("anything-but number vs string", {"detail": {"n": [{"anything-but": 5}]}}, ev(n="5"), True),
    ("anything-but with array element", {"detail": {"s": [{"anything-but": "x"}]}}, ev(s=["x", "z"]), True),
    ("anything-but prefix", {"detail": {"s": [{"anything-but": {"prefix": "init"}}]}}, ev(s="running"), True),
    ("anything-but prefix no", {"detail": {"s": [{"anything-but": {"prefix": "init"}}]}}, ev(s="initial"), False),
    ("anything-but prefix accepts number", {"detail": {"s": [{"anything-but": {"prefix": "init"}}]}},
     ev(s=12), True),
    ("anything-but prefix list", {"detail": {"s": [{"anything-but": {"prefix": ["a", "b"]}}]}}, ev(s="bx"),
     False),
    ("anything-but suffix", {"detail": {"s": [{"anything-but": {"suffix": ".txt"}}]}}, ev(s="a.png"), True),
    ("anything-but suffix list no", {"detail": {"s": [{"anything-but": {"suffix": [".txt", ".png"]}}]}},
     ev(s="a.png"), False),
    ("anything-but ignore case", {"detail": {"s": [{"anything-but": {"equals-ignore-case": "STOPPED"}}]}},
     ev(s="stopped"), False),
    ("anything-but ignore case list", {"detail": {"s": [{"anything-but": {"equals-ignore-case": ["a", "B"]}}]}},
     ev(s="c"), True),
    ("anything-but ignore case null", {"detail": {"s": [{"anything-but": {"equals-ignore-case": "x"}}]}},
     ev(s=None), True),
    ("anything-but wildcard", {"detail": {"p": [{"anything-but": {"wildcard": "*/dir/*"}}]}}, ev(p="a/dir/b"),
     False),
    ("anything-but wildcard other", {"detail": {"p": [{"anything-but": {"wildcard": "*/dir/*"}}]}},
     ev(p="a/b"), True),
    ("anything-but empty wildcard", {"detail": {"p": [{"anything-but": {"wildcard": ""}}]}}, ev(p="a"), True),
    ("anything-but wildcard number", {"detail": {"p": [{"anything-but": {"wildcard": "*"}}]}}, ev(p=1), True),
    # numeric
    ("numeric range", {"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}, ev(n=5), True),
    ("numeric open top", {"detail": {"n": [{"numeric": [">", 0, "<", 5]}]}}, ev(n=5), False),
    ("numeric open bottom", {"detail": {"n": [{"numeric": [">", 0]}]}}, ev(n=0), False),
    ("numeric >=", {"detail": {"n": [{"numeric": [">=", 0]}]}}, ev(n=0), True),
    ("numeric equals", {"detail": {"n": [{"numeric": ["=", 3.018e2]}]}}, ev(n=301.8), True),
    ("numeric int vs float", {"detail": {"n": [{"numeric": ["<", 10]}]}}, ev(n=9.99), True),
    ("numeric string value", {"detail": {"n": [{"numeric": [">", 0]}]}}, ev(n="5"), False),
    ("numeric null", {"detail": {"n": [{"numeric": [">", 0]}]}}, ev(n=None), False),
    ("numeric bool", {"detail": {"n": [{"numeric": [">", 0]}]}}, ev(n=True), False),
    ("numeric negative", {"detail": {"n": [{"numeric": ["<", -1.5]}]}}, ev(n=-2), True),
    # exists (leaves only)
    ("exists", {"detail": {"k": [{"exists": True}]}}, ev(k="v"), True),
    ("exists null counts", {"detail": {"k": [{"exists": True}]}}, ev(k=None), True),
    ("exists object does not", {"detail": {"k": [{"exists": True}]}}, ev(k={"S": "x"}), False),
    ("exists empty array does not", {"resources": [{"exists": True}]}, {**BASE, "resources": []}, False),
    ("not exists", {"detail": {"k": [{"exists": False}]}}, ev(), True),
    ("not exists but present", {"detail": {"k": [{"exists": False}]}}, ev(k=1), False),
    ("not exists empty array", {"resources": [{"exists": False}]}, {**BASE, "resources": []}, True),
    ("not exists or value", {"detail": {"a": {"S": [{"anything-but": ["x"]}, {"exists": False}]}}},
     ev(a={"N": "1"}), True),
    # cidr
    ("cidr v4", {"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, ev(ip="10.0.0.255"), True),
    ("cidr v4 outside", {"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, ev(ip="10.0.1.0"), False),
    ("cidr v6", {"detail": {"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}}, ev(ip="2001:db8:1234:1a00::ff"),
     True),
    ("cidr v6 outside", {"detail": {"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}}, ev(ip="2001:db8:1234:1a01::"),
     False),
    ("cidr number", {"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, ev(ip=123), False),
    ("cidr not an ip", {"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, ev(ip="host"), False),
    ("ip literal value", {"detail": {"ip": ["10.0.0.1"]}}, ev(ip="10.0.0.1"), True),
    # $or
    ("or first", {"detail": {"$or": [{"a": [1]}, {"b": [2]}]}}, ev(a=1), True),
    ("or second", {"detail": {"$or": [{"a": [1]}, {"b": [2]}]}}, ev(b=2), True),
    ("or neither", {"detail": {"$or": [{"a": [1]}, {"b": [2]}]}}, ev(a=2, b=1), False),
    ("or with and", {"source": ["orders"], "$or": [{"detail": {"a": [1]}}, {"detail-type": ["x"]}]},
     ev(a=1), True),
    ("or nested", {"$or": [{"detail": {"$or": [{"a": [1]}, {"b": [1]}]}}, {"source": ["x"]}]}, ev(b=1), True),
    ("or with exists", {"detail": {"$or": [{"a": [{"exists": True}]}, {"b": [{"numeric": [">", 1]}]}]}},
     ev(b=2), True),
    # several fields: all must match
    ("and", {"source": ["orders"], "detail": {"n": [1]}}, ev(n=1), True),
    ("and one fails", {"source": ["orders"], "detail": {"n": [1]}}, ev(n=2), False),
    ("mixed list", {"detail": {"s": ["x", {"prefix": "ab"}, {"numeric": [">", 9]}]}}, ev(s=10), True),
]


@pytest.mark.parametrize("pattern,doc,expected", [r[1:] for r in MATCHES], ids=[r[0] for r in MATCHES])
def test_matches(pattern, doc, expected):
    assert EventPattern(json.dumps(pattern)).matches(doc) is expected


def _loc(src: str, col: int, twice: bool = False) -> str:
    one = f'\n at [Source: (String)"{src}"; line: 1, column: {col}]'
    return one * (2 if twice else 1)


ERRORS = [
    ('{"n": 42}', '"n" must be an object or an array', 9),
    ('{"s": "v"}', '"s" must be an object or an array', 8),
    ('{"r": []}', "Empty arrays are not allowed", 9),
    ('{"r": {}}', "Empty objects are not allowed", 9),
    ('{}', "Empty objects are not allowed", 3),
    ('["x"]', "Filter is not an object", 2),
    ('{"k": [["x"]]}', "Match value must be String, number, true, false, or null", 9),
    ('{"k": [{"EXISTS": true}]}', "Unrecognized match type EXISTS", 23),
    ('{"k": [{}]}', "Match expression name not found", 10),
    ('{"k": [{"exists": "yes"}]}', "exists match pattern must be either true or false.", 20),
    ('{"k": [{"exists": true, "x": 1}]}', "Only one key allowed in match expression", 31),
    ('{"k": [{"prefix": 1}]}', "prefix match pattern must be a string", 20),
    ('{"k": [{"prefix": ["a"]}]}', "prefix match pattern must be a string", 20),
    ('{"k": [{"suffix": 1}]}', "suffix match pattern must be a string", 20),
    ('{"k": [{"prefix": {"other": "a"}}]}', "Unsupported prefix pattern: other", 30),
    ('{"k": [{"suffix": {"equals-ignore-case": 1}}]}', "equals-ignore-case match pattern must be a string", 43),
    ('{"k": [{"equals-ignore-case": ["a"]}]}', "equals-ignore-case match pattern must be a string", 32),
    ('{"k": [{"wildcard": 1}]}', "wildcard match pattern must be a string", 22),
    ('{"k": [{"wildcard": "a**"}]}', "Consecutive wildcard characters at pos 2", 26),
    ('{"k": [{"wildcard": "a\\\\x"}]}', "Invalid escape character at pos 2", 27),
    ('{"k": [{"numeric": 1}]}', "Value of numeric must be an array.", 21),
    ('{"k": [{"numeric": [1]}]}', "Invalid member in numeric match: 1", 22),
    ('{"k": [{"numeric": ["~", 1]}]}', "Unrecognized numeric range operator: ~", 27),
    ('{"k": [{"numeric": ["=", "x"]}]}', "Value of equals must be numeric", 27),
    ('{"k": [{"numeric": [">", 0, ">", 0]}]}', "Bad numeric range operator: >", 32),
    ('{"k": [{"numeric": [">", 0, "<"]}]}', "Value of < must be numeric", 33),
    ('{"k": [{"numeric": ["<", 0, ">", 1]}]}', "Too many elements in numeric expression", 30),
    ('{"k": [{"numeric": [">", 0, "<", 1, 2]}]}', "Too many terms in numeric range expression", 38),
    ('{"k": [{"anything-but": null}]}', "Value of anything-but must be an array or single string/number value.", 29),
    ('{"k": [{"anything-but": {"other": 1}}]}', "Unsupported anything-but pattern: other", 36),
    ('{"k": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed", 38),
    ('{"k": [{"anything-but": {"prefix": 1}}]}', "prefix/suffix match pattern must be a string", 37),
    ('{"k": [{"anything-but": {"equals-ignore-case": 1}}]}',
     "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.", 49),
    ('{"k": [{"anything-but": {"wildcard": 1}}]}', "wildcard match pattern must be a string", 39),
    ('{"k": [{"anything-but": ["a", 1]}]}',
     "Inside anything but list, either all values are number or string, mixed type is not supported", 33),
    ('{"k": [{"$or": 1}]}', "Unrecognized match type $or", 17),
    ('{"$or": [{"a": [1]}]}', "There must have at least 2 Objects in $or relationship.", 21),
    ('{"$or": {"a": [1]}}', "It must be an Array followed with $or.", 10),
    ('{"$or": [{"a": [1]}, 2]}', "Only JSON object is allowed in array of $or relationship.", 23),
    ('{"$or": [{"prefix": [1]}, {"a": [1]}]}', "prefix is Ruler reserved fieldName which cannot be used inside $or.", 22),
    ("{'k': 1}", "Unexpected character (''' (code 39)): was expecting double-quote to start field name", 2),
    ('{"k": nope}', "Unrecognized token 'nope': was expecting (JSON String, Number, Array, Object or token 'null', "
                    "'true' or 'false')", 11),
]

ERRORS_TWICE = [
    ('{"k": [{"anything-but": ["a", null]}]}', "Inside anything but list, start|null|boolean is not supported.", 35),
    ('{"k": [{"anything-but": {"suffix": [null]}}]}', "prefix/suffix match pattern must be a string", 41),
    ('{"k": [{"anything-but": {"prefix": ["a", ""]}}]}', "Null prefix/suffix not allowed", 44),
    ('{"k": [{"anything-but": {"equals-ignore-case": [1]}}]}',
     "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.", 50),
]

UNLOCATED = [
    ('{"ip": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ('{"ip": [{"cidr": "10.0.0.0/"}]}', "Malformed CIDR, one '/' required"),
    ('{"ip": [{"cidr": "10.0.0.0/x"}]}', "Malformed CIDR, mask bits must be an integer"),
    ('{"ip": [{"cidr": "10.0.0.0/-1"}]}', "Malformed CIDR, mask bits must not be negative"),
    ('{"ip": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    ('{"ip": [{"cidr": "::/128"}]}', "IPv6 mask bits must be < 128"),
    ('{"ip": [{"cidr": "zz.1.2/8"}]}', "Nonstandard IP address: zz.1.2"),
    ('{"ip": [{"cidr": "gggg:db8::/32"}]}', "Nonstandard IP address: gggg:db8::"),
    ('{"a": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}',
     "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after "
     "a wildcard character"),
]


def _reason(text: str) -> str:
    with pytest.raises(InvalidPattern) as e:
        EventPattern(text)
    return e.value.reason


@pytest.mark.parametrize("text,message,column", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_errors_with_location(text, message, column):
    assert _reason(text) == message + _loc(text, column)


@pytest.mark.parametrize("text,message,column", ERRORS_TWICE, ids=[e[1][:40] for e in ERRORS_TWICE])
def test_errors_inside_lists_quote_the_location_twice(text, message, column):
    assert _reason(text) == message + _loc(text, column, twice=True)


@pytest.mark.parametrize("text,message", UNLOCATED, ids=[e[1][:40] for e in UNLOCATED])
def test_errors_without_location(text, message):
    assert _reason(text) == message


def test_reasonable_wildcards_are_not_too_complex():
    EventPattern('{"a": [{"wildcard": "arn:aws:events:*:*:event-bus/*"}]}')
    EventPattern('{"a": [{"wildcard": "*/dir/*.png"}]}')


def test_location_counts_lines_and_truncates_long_sources():
    text = '{\n  "k": 42\n}'
    assert _reason(text).endswith('line: 2, column: 10]')
    long = '{"k": [{"prefix": 1}], "pad": ["' + "x" * 600 + '"]}'
    reason = _reason(long)
    assert '[truncated 135 chars]; line: 1, column: 20]' in reason


def test_later_duplicate_path_wins():
    p = EventPattern('{"detail": {"a": [1]}, "detail": {"a": [2]}}')
    assert p.matches(ev(a=2)) and not p.matches(ev(a=1))
    # different paths under a repeated key are both kept
    p = EventPattern('{"detail": {"a": [1]}, "detail": {"b": [2]}}')
    assert p.matches(ev(a=1, b=2)) and not p.matches(ev(a=1))
