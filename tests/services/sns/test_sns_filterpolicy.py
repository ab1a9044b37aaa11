"""Filter policies without a server: validation messages (AWS's, word for word),
matching semantics, and the indexed matcher against a plain evaluation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sns import filterpolicy as fp
from services.sns.matcher import MessageView, SnsFilterMatcher

_LOC = '\n at [Source: (String)"{src}"; line: 1, column: {col}]'

# (policy, scope, reason after "Invalid parameter: [Attributes Reason: ]")
INVALID = [
    ({"key": [["value"]]}, "MessageAttributes",
     "FilterPolicy: Match value must be String, number, true, false, or null", 10),
    ({"key": [{"wrong-operator": True}]}, "MessageAttributes", "FilterPolicy: Unrecognized match type wrong-operator",
     31),
    ({"key": [{"suffix": "value", "prefix": "value2"}]}, "MessageAttributes",
     "FilterPolicy: Only one key allowed in match expression", 37),
    ({"key": []}, "MessageAttributes", "FilterPolicy: Empty arrays are not allowed", 10),
    ({"key": [{"suffix": 100}]}, "MessageAttributes", "FilterPolicy: suffix match pattern must be a string", 22),
    ({"key": [{"suffix": None}]}, "MessageAttributes", "FilterPolicy: suffix match pattern must be a string", 23),
    ({"key": {"suffix": "value"}}, "MessageAttributes", 'FilterPolicy: "suffix" must be an object or an array', 19),
    ({"key": [{"suffix": ["test", "test2"]}]}, "MessageAttributes",
     "FilterPolicy: suffix match pattern must be a string", 20),
    ({"key": {"not-an-operator": "value"}}, "MessageAttributes",
     'FilterPolicy: "not-an-operator" must be an object or an array', 28),
    ({"key": [{"cidr": ["bad-filter"]}]}, "MessageAttributes", "FilterPolicy: prefix match pattern must be a string",
     18),
    ({"key": [{"cidr": "bad-filter"}]}, "MessageAttributes", "FilterPolicy: Malformed CIDR, one '/' required", None),
    ({"key": [{"cidr": "bad-filter/24"}]}, "MessageAttributes", "FilterPolicy: Nonstandard IP address: bad-filter",
     None),
    ({"key": [{"cidr": "10.0.0.0/x"}]}, "MessageAttributes",
     "FilterPolicy: Malformed CIDR, mask bits must be an integer", None),
    ({"key": [{"numeric": []}]}, "MessageAttributes", "FilterPolicy: Invalid member in numeric match: ]", 22),
    ({"key": [{"numeric": ["operator"]}]}, "MessageAttributes",
     "FilterPolicy: Unrecognized numeric range operator: operator", 32),
    ({"key": [{"numeric": [1, "<="]}]}, "MessageAttributes", "FilterPolicy: Invalid member in numeric match: 1", 22),
    ({"key": [{"numeric": ["=", "000"]}]}, "MessageAttributes", "FilterPolicy: Value of equals must be numeric", 26),
    ({"key": [{"numeric": [">="]}]}, "MessageAttributes", "FilterPolicy: Value of >= must be numeric", 26),
    ({"key": [{"numeric": ["<", 100, ">", 10]}]}, "MessageAttributes",
     "FilterPolicy: Too many elements in numeric expression", 30),
    ({"key": [{"numeric": [">=", 1, ">", 2]}]}, "MessageAttributes", "FilterPolicy: Bad numeric range operator: >",
     31),
    ({"key": [{"numeric": [">", 3, "<", 1]}]}, "MessageAttributes", "FilterPolicy: Bottom must be less than top", 33),
    ({"key": [{"numeric": [">", 20, 30]}]}, "MessageAttributes", "FilterPolicy: Bad value in numeric range: 30", 30),
    ({"key": [{"numeric": [">", 20, "<", 30, "<", 50]}]}, "MessageAttributes",
     "FilterPolicy: Too many terms in numeric range expression", 36),
    ({"key": [{"exists": None}]}, "MessageAttributes",
     "FilterPolicy: exists match pattern must be either true or false.", 23),
    ({"key": [{"anything-but": {"suffix": "test"}}]}, "MessageAttributes",
     "FilterPolicy: Unsupported anything-but pattern: suffix", 36),
    ({"key": [{"anything-but": {"exists": False}}]}, "MessageAttributes",
     "FilterPolicy: Unsupported anything-but pattern: exists", 40),
    ({"key": [{"anything-but": {"prefix": False}}]}, "MessageAttributes",
     "FilterPolicy: prefix match pattern must be a string", 40),
    ({f"key{i}": ["v"] for i in range(6)}, "MessageAttributes",
     "FilterPolicy: Filter policy can not have more than 5 keys", None),
    ({"key": [f"value{i}" for i in range(151)]}, "MessageAttributes", "FilterPolicy: Filter policy is too complex",
     None),
    ({"key1": [f"v{i}" for i in range(100)], "key2": [f"v{i}" for i in range(51)]}, "MessageAttributes",
     "FilterPolicy: Filter policy is too complex", None),
    # nesting weighs by depth: 4*3 x 3*2 x 3*1 = 216
    ({"a": {"b": {"c": ["1", "2", "3", "4"]}}, "d": {"e": ["1", "2", "3"]}, "f": ["1", "2", "3"]}, "MessageBody",
     "FilterPolicy: Filter policy is too complex", None),
    # $or alternatives add up: 4*6 + 4*4*4 + 4*4*4 = 152
    ({"source": ["a", "b", "c", "d"], "$or": [{"metricName": ["1", "2", "3", "4", "5", "6"]},
                                             {"metricType": ["1", "2", "3", "4"],
                                              "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4]}]}]},
     "MessageAttributes", "FilterPolicy: Filter policy is too complex", None),
    ({"object": {"key": [{"prefix": "auto-"}]}}, "MessageAttributes",
     "Filter policy scope MessageAttributes does not support nested filter policy", None),
]


@pytest.mark.parametrize("policy,scope,reason,column", INVALID)
def test_invalid_policies_answer_sns_messages(policy, scope, reason, column):
    with pytest.raises(fp.PolicyError) as exc:
        fp.parse(json.dumps(policy), scope)
    expected = reason
    if column is not None:      # SNS quotes the compact policy and the parser's column in it
        expected += _LOC.format(src=json.dumps(policy, separators=(",", ":")), col=column)
    assert exc.value.reason == expected


def test_json_errors_are_worded_like_jackson():
    with pytest.raises(fp.PolicyError) as exc:
        fp.parse("{invalidjson}")
    assert exc.value.reason.startswith("FilterPolicy: failed to parse JSON. Unexpected character ('i' (code 105)): "
                                       "was expecting double-quote to start field name\n at [Source: REDACTED")
    assert exc.value.reason.endswith("line: 1, column: 2]")
    with pytest.raises(fp.PolicyError) as exc:
        fp.parse("invalid")
    assert "Unrecognized token 'invalid': was expecting (JSON String, Number, Array, Object or token 'null', " \
           "'true' or 'false')" in exc.value.reason
    assert exc.value.reason.endswith("line: 1, column: 8]")


VALID_AT_LIMIT = [
    # 3*6 + 3*4*4 + 3*4*7 = 150: accepted
    ({"source": ["a", "b", "c"], "$or": [{"metricName": ["1", "2", "3", "4", "5", "6"]},
                                        {"metricType": ["1", "2", "3", "4"],
                                         "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}]}]},
     "MessageAttributes"),
    ({"key": [{"anything-but": {"prefix": "test-"}}]}, "MessageAttributes"),
    ({"key": [{"anything-but": ["a", "b"]}, {"exists": False}]}, "MessageAttributes"),
    ({"a": {"b": [{"equals-ignore-case": "X"}], "c": [{"cidr": "10.0.0.0/8"}]}}, "MessageBody"),
]


@pytest.mark.parametrize("policy,scope", VALID_AT_LIMIT)
def test_valid_policies(policy, scope):
    assert fp.parse(json.dumps(policy), scope) == policy


def _attrs(**kw) -> dict:
    out = {}
    for k, v in kw.items():
        out[k] = list(v) if isinstance(v, tuple) else (["Number", str(v)] if isinstance(v, (int, float))
                                                        else ["String", v])
    return out


def matches(policy: dict, scope: str = "MessageAttributes", attrs: dict | None = None, body=None) -> bool:
    m = SnsFilterMatcher()
    m.add((scope, json.dumps(policy)), "sub")
    text = json.dumps(body) if isinstance(body, (dict, list)) else body
    return "sub" in m.match("", None, MessageView(attrs, text))


# (policy, attributes, delivered?)
ATTRIBUTE_CASES = [
    ({"attr1": [{"numeric": [">", 0, "<=", 100]}]}, _attrs(attr1=99), True),
    ({"attr1": [{"numeric": [">", 0, "<=", 100]}]}, _attrs(attr1=111), False),
    ({"attr1": [{"numeric": [">", 0, "<=", 100]}]}, _attrs(attr1="99"), False),      # a String is not a number
    ({"attr1": [None, {"anything-but": "whatever"}]}, {}, False),                      # absent never matches
    ({"attr1": [{"anything-but": "whatever"}]}, _attrs(attr1="other"), True),
    ({"attr1": [{"anything-but": ["a", "b"]}]}, _attrs(attr1="b"), False),
    ({"store": [{"exists": True}]}, _attrs(store=99, defs=99), True),
    ({"store": [{"exists": True}]}, _attrs(attr1=111), False),
    ({"store": [{"exists": False}]}, _attrs(defs=99), True),
    ({"store": [{"exists": False}]}, _attrs(store=99), False),
    ({"store": ["value1"]}, _attrs(store="value1"), True),
    ({"store": ["value1"]}, {"store": ["String.Array", '["value1", "value2"]']}, True),
    ({"store": ["value1"]}, {"store": ["String.Array", '["value2", "value3"]']}, False),
    ({"n": [5]}, {"n": ["String.Array", '[5, "x"]']}, True),
    ({"c": [{"prefix": "bas"}]}, _attrs(c="basketball"), True),
    ({"c": [{"suffix": "ball"}]}, _attrs(c="rugby"), False),
    ({"c": [{"equals-ignore-case": "RuGbY"}]}, _attrs(c="rugby"), True),
    ({"c": [{"anything-but": {"prefix": "bas"}}]}, _attrs(c="basketball"), False),
    ({"c": [{"anything-but": {"prefix": "bas"}}]}, _attrs(c="rugby"), True),
    ({"price": [{"numeric": ["=", 301.5]}]}, _attrs(price="3.015e2") | {"price": ["Number", "3.015e2"]}, True),
    ({"price": [301.5]}, {"price": ["Number", "301.50"]}, True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, _attrs(ip="10.0.0.255"), True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, _attrs(ip="10.0.1.1"), False),
    ({"b": [{"exists": True}]}, {"b": ["Binary", b"\x00"]}, True),
    ({"b": ["x"]}, {"b": ["Binary", b"x"]}, False),
    ({"a": ["x"], "$or": [{"b": ["y"]}, {"c": ["z"]}]}, _attrs(a="x", c="z"), True),
    ({"a": ["x"], "$or": [{"b": ["y"]}, {"c": ["z"]}]}, _attrs(a="x"), False),
]


@pytest.mark.parametrize("policy,attrs,delivered", ATTRIBUTE_CASES)
def test_attribute_policies(policy, attrs, delivered):
    assert matches(policy, attrs=attrs) is delivered


NESTED = {"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": False}]},
          "test": [{"exists": False}]}
OR_POLICY = {"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
             "detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]},
                                                       {"type": ["CloudWatch Alarm State Change"]}]}}
S3 = {"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}}, "eventName": [{"prefix": "ObjectCreated:"}]}}

BODY_CASES = [
    (NESTED, {"object": {"key": "auto-test"}}, True),
    (NESTED, {"object": {"key": "hardcodedvalue"}}, True),
    (NESTED, {"object": {"key": "test-auto"}}, False),
    (NESTED, {"object": {"key": "auto-test"}, "test": "just-exists"}, False),
    (NESTED, {"object": {"key": "auto-test", "nested_key": "just-exists"}}, False),
    (NESTED, "Regular string message", False),
    (NESTED, json.dumps("a JSON string"), False),
    ({"object.nested": ["string.value"]}, {"object": {"nested": "string.value"}}, True),
    ({"object.nested": ["string.value"]}, {"object.nested": "string.value"}, True),
    ({"object.nested.test": ["v"]}, {"object.nested": {"test": "v"}}, True),
    ({"object.nested.test": ["v"]}, {"object": {"nested.test": "v"}}, True),
    ({"headers": {"route-to": ["queue1"]}}, {"headers": {"route-to": ["queue1", "queue2"]}}, True),
    ({"headers": {"route-to": ["queue1"]}}, {"headers": {"route-to": ["queue3"]}}, False),
    (S3, {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": [[{"key": "auto-1.xml"}]]}},
                      {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "home-1.xml"}}}]}, True),
    (S3, {"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "auto-1.xml"}}}]}, False),
    (OR_POLICY, {"metricName": "CPUUtilization", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}, True),
    (OR_POLICY, {"namespace": "AWS/ES", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}, True),
    (OR_POLICY, {"metricName": "CPUUtilization", "detail": {"scope": "Service"}}, False),
    (OR_POLICY, {"metricName": "AWS/EC2", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}, False),
    ({"flag": [True]}, {"flag": True}, True),
    ({"flag": [True]}, {"flag": 1}, False),
    ({"v": [None]}, {"v": None}, True),
    ({"v": [None]}, {}, False),
    ({"resources": [{"exists": False}]}, {"resources": []}, True),
    ({"n": [{"numeric": [">=", 10]}]}, {"n": 10}, True),
    ({"detail": {"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}},
     {"detail": {"ip": "2001:0db8:1234:1a00:0000:0000:0000:0000"}}, True),
]


@pytest.mark.parametrize("policy,body,delivered", BODY_CASES)
def test_body_policies(policy, body, delivered):
    assert matches(policy, "MessageBody", body=body) is delivered


def test_unfiltered_and_shared_policies():
    m = SnsFilterMatcher()
    pol = ("MessageAttributes", json.dumps({"k": ["v"]}))
    m.add(None, "all")
    m.add(pol, "a")
    m.add(pol, "b")
    assert set(m.match("", None, MessageView({"k": ["String", "v"]}, "x"))) == {"all", "a", "b"}
    assert set(m.match("", None, MessageView({"k": ["String", "w"]}, "x"))) == {"all"}
    assert m.remove(pol, "a") and len(m) == 2
    assert set(m.match("", None, MessageView({"k": ["String", "v"]}, "x"))) == {"all", "b"}
    assert m.remove(pol, "b") and m.remove(None, "all") and len(m) == 0
    assert not m.remove(None, "all")
    assert list(m.match("", None, MessageView({"k": ["String", "v"]}, "x"))) == []


# -- the index agrees with a plain evaluation of every policy ---------------------------

_values = st.sampled_from(["a", "ab", "abc", "b", "ba", "A", "10.0.0.1"])
_numbers = st.sampled_from([1, 2, 5.5, 10, -3])
_rule = st.one_of(
    _values, _numbers,
    st.builds(lambda v: {"prefix": v}, _values), st.builds(lambda v: {"suffix": v}, _values),
    st.builds(lambda v: {"equals-ignore-case": v}, _values),
    st.builds(lambda v: {"anything-but": v}, _values), st.builds(lambda v: {"anything-but": {"prefix": v}}, _values),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda lo: {"numeric": [">=", lo, "<", lo + 4]}, _numbers),
    st.just({"cidr": "10.0.0.0/24"}),
)
_keys = st.sampled_from(["k1", "k2", "k3"])
_policy = st.dictionaries(_keys, st.lists(_rule, min_size=1, max_size=3), min_size=1, max_size=3)
_attr_value = st.one_of(st.builds(lambda v: ["String", v], _values), st.builds(lambda n: ["Number", str(n)], _numbers))
_message = st.dictionaries(_keys, _attr_value, max_size=3)


def _naive(policy: dict, attrs: dict) -> bool:
    view = MessageView(attrs, None).attributes()
    return any(all(t.ok(view.get(t.path)) for t in branch) for branch in fp.branches(policy))


@settings(max_examples=150, deadline=None)
@given(st.lists(_policy, min_size=1, max_size=8), st.lists(_message, min_size=1, max_size=5))
def test_index_agrees_with_plain_evaluation(policies, messages):
    m = SnsFilterMatcher()
    for i, p in enumerate(policies):
        m.add(("MessageAttributes", json.dumps(p)), i)
    for attrs in messages:
        expected = {i for i, p in enumerate(policies) if _naive(p, attrs)}
        assert set(m.match("", None, MessageView(attrs, None))) == expected
    for i, p in enumerate(policies):
        assert m.remove(("MessageAttributes", json.dumps(p)), i)
    assert len(m) == 0 and not m._attrs.paths and not m._attrs.scan
