"""The pattern index against brute force, $or algebra, and that matching does not scan."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.core.eventpattern import EventPattern, EventPatternMatcher, flatten
from broker.core.exchange import Exchange
from broker.core.matchers import make_matcher

FIELDS = ["a", "b", "c.d"]
STRS = ["x", "xy", "Y", ""]
NUMS = [0, 1, 2.5, -3]

leaf = st.one_of(st.sampled_from(STRS), st.sampled_from(NUMS), st.none(), st.booleans())
operand = st.one_of(
    leaf,
    st.sampled_from(STRS).map(lambda s: {"prefix": s}),
    st.sampled_from([s for s in STRS if s]).map(lambda s: {"anything-but": {"prefix": s}}),
    st.sampled_from(STRS).map(lambda s: {"equals-ignore-case": s}),
    st.sampled_from(STRS).map(lambda s: {"suffix": s}),
    st.sampled_from(STRS).map(lambda s: {"anything-but": s}),
    st.sampled_from(NUMS).map(lambda n: {"numeric": [">=", n]}),
    st.booleans().map(lambda b: {"exists": b}),
    st.sampled_from(["x*", "*y", "*"]).map(lambda w: {"wildcard": w}),
)


def _nest(path: str, value):
    parts = path.split(".")
    out = value
    for p in reversed(parts):
        out = {p: out}
    return out


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


@st.composite
def patterns(draw):
    fields = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
    doc: dict = {}
    for f in fields:
        doc = _merge(doc, _nest(f, draw(st.lists(operand, min_size=1, max_size=3))))
    return doc


@st.composite
def documents(draw):
    doc: dict = {}
    for f in FIELDS:
        if draw(st.booleans()):
            v = draw(st.one_of(leaf, st.lists(leaf, max_size=3)))
            doc = _merge(doc, _nest(f, v))
    return doc


@settings(max_examples=150, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=12), st.lists(documents(), min_size=1, max_size=5))
def test_index_agrees_with_brute_force(pats, docs):
    m = EventPatternMatcher()
    compiled = [EventPattern(json.dumps(p)) for p in pats]
    for i, p in enumerate(pats):
        m.add(p, ("rule", i))
    for doc in docs:
        want = {("rule", i) for i, c in enumerate(compiled) if c.matches(doc)}
        assert set(m.match(message=doc)) == want
    # removing half of them leaves exactly the others
    for i, p in enumerate(pats):
        if i % 2 == 0:
            assert m.remove(p, ("rule", i))
    for doc in docs:
        want = {("rule", i) for i, c in enumerate(compiled) if i % 2 and c.matches(doc)}
        assert set(m.match(message=doc)) == want


@settings(max_examples=150, deadline=None)
@given(patterns(), patterns(), documents())
def test_or_is_disjunction(p1, p2, doc):
    either = EventPattern(json.dumps({"$or": [p1, p2]}))
    assert either.matches(doc) == (EventPattern(json.dumps(p1)).matches(doc)
                                   or EventPattern(json.dumps(p2)).matches(doc))


@settings(max_examples=100, deadline=None)
@given(patterns(), patterns(), documents())
def test_or_distributes_over_common_fields(common, alt, doc):
    """{common, $or: [A, B]} == $or: [{common, A}, {common, B}] when A, B add new fields."""
    a = {"z1": [1]}
    left = EventPattern(json.dumps({**common, "$or": [a, alt]}))
    right = EventPattern(json.dumps({"$or": [_merge(common, a), _merge(common, alt)]}))
    assert left.matches(doc) == right.matches(doc)


def test_matching_looks_at_candidates_not_every_rule():
    def candidates(n):
        m = EventPatternMatcher()
        for i in range(n):
            m.add({"source": [f"app.{i}"], "detail-type": [f"type-{i % 7}"], "detail": {"n": [{"numeric": [">", i]}]}},
                  ("rule", i))
        flat = flatten({"source": "app.5", "detail-type": "type-5", "detail": {"n": 100}})
        return m, m.candidates(flat)
    small, c_small = candidates(10)
    big, c_big = candidates(10_000)
    assert big.scan_size() == 0
    assert len(c_small) == len(c_big) == 1
    assert set(big.match(message={"source": "app.5", "detail-type": "type-5", "detail": {"n": 100}})) == {("rule", 5)}


def test_shared_anchor_values_spread_over_other_fields():
    m = EventPatternMatcher()
    for i in range(2000):
        m.add({"source": ["shared"], "detail-type": [f"t{i}"]}, ("rule", i))
    flat = flatten({"source": "shared", "detail-type": "t7"})
    assert len(m.candidates(flat)) < 50
    assert set(m.match(message={"source": "shared", "detail-type": "t7"})) == {("rule", 7)}


def test_registered_as_exchange_matcher():
    ex = Exchange("bus", "event-pattern", make_matcher("event-pattern"))
    assert ex.bind('{"source": ["a"]}', ("rule", "r1"))
    assert not ex.bind('{"source": ["a"]}', ("rule", "r1"))
    ex.bind({"source": ["a", "b"]}, ("rule", "r2"))
    assert set(ex.match(message={"source": "a"})) == {("rule", "r1"), ("rule", "r2")}
    assert set(ex.match(message='{"source": "b"}')) == {("rule", "r2")}
    assert ex.unbind('{"source": ["a"]}', ("rule", "r1"))
    assert set(ex.match(message={"source": "a"})) == {("rule", "r2")}
