"""Exchanges, matchers (direct, fanout, headers), e2e routing and export."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from broker.core.exchange import Exchange, ExchangeTable
from broker.core.matchers import HeadersMatcher, headers_match, register_matcher


def test_direct_and_fanout():
    t = ExchangeTable()
    d = t.declare("d", "direct")
    assert d.bind("k", ("queue", 1))
    assert not d.bind("k", ("queue", 1))
    d.bind("k", ("queue", 2))
    d.bind("j", ("queue", 3))
    assert t.route("d", "k") == {("queue", 1), ("queue", 2)}
    assert t.route("d", "x") == set()
    assert d.unbind("k", ("queue", 1)) and not d.unbind("k", ("queue", 1))
    assert t.route("d", "k") == {("queue", 2)}
    f = t.declare("f", "fanout")
    f.bind("", ("queue", 1))
    f.bind("ignored", ("queue", 1))
    f.bind("", ("sink", "http"))
    assert t.route("f", "anything") == {("queue", 1), ("sink", "http")}
    f.unbind("", ("queue", 1))
    assert t.route("f") == {("queue", 1), ("sink", "http")}
    assert f.unbind_dest(("queue", 1)) == 1
    assert t.route("f") == {("sink", "http")}
    with pytest.raises(ValueError):
        t.declare("f", "topic")
    assert t.route("missing", "k") == set()


@pytest.mark.parametrize(
    "args, headers, want",
    [
        ({"x-match": "all", "a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 0}, True),
        ({"x-match": "all", "a": 1, "b": "x"}, {"a": 1}, False),
        ({"a": 1}, {"a": 1}, True),  # default is all
        ({"x-match": "all", "a": 1}, {"a": 2}, False),
        ({"x-match": "any", "a": 1, "b": 2}, {"b": 2}, True),
        ({"x-match": "any", "a": 1, "b": 2}, {"b": 3}, False),
        ({"x-match": "all", "a": None}, {"a": "whatever"}, True),  # void = presence
        ({"x-match": "all", "a": None}, {}, False),
        ({"x-match": "any", "a": None, "b": 1}, {"a": 0}, True),
        ({"x-match": "all"}, {}, True),  # no args: all matches everything
        ({"x-match": "any"}, {"a": 1}, False),  # no args: any matches nothing
        ({"x-match": "all", "x-foo": 1, "a": 1}, {"a": 1}, True),  # x- args ignored
        ({"x-match": "all-with-x", "x-foo": 1, "a": 1}, {"a": 1}, False),
        ({"x-match": "all-with-x", "x-foo": 1, "a": 1}, {"a": 1, "x-foo": 1}, True),
        ({"x-match": "any", "x-foo": 1}, {"x-foo": 1}, False),
        ({"x-match": "any-with-x", "x-foo": 1}, {"x-foo": 1}, True),
        ({"a": 1}, {"a": True}, False),  # bool and int are distinct type classes
        ({"a": 1}, {"a": 1.0}, False),
        ({"a": "1"}, {"a": 1}, False),
    ],
)
def test_headers_rules(args, headers, want):
    assert headers_match(args, headers) is want
    m = HeadersMatcher()
    m.add(args, "d")
    assert (set(m.match("", headers, None)) == {"d"}) is want


def test_headers_exchange_bindings_canonical():
    t = ExchangeTable()
    h = t.declare("h", "headers")
    assert h.bind({"x-match": "any", "a": 1, "b": [1, 2]}, ("queue", "q"))
    assert not h.bind({"b": [1, 2], "a": 1, "x-match": "any"}, ("queue", "q"))
    assert t.route("h", "", {"a": 1}) == {("queue", "q")}
    assert h.unbind({"a": 1, "x-match": "any", "b": [1, 2]}, ("queue", "q"))
    assert t.route("h", "", {"a": 1}) == set()


def test_exchange_to_exchange_cycles_and_dedup():
    t = ExchangeTable()
    a = t.declare("a", "fanout")
    b = t.declare("b", "topic")
    c = t.declare("c", "direct")
    a.bind("", ("exchange", "b"))
    b.bind("x.#", ("exchange", "c"))
    b.bind("#", ("exchange", "a"))  # cycle a -> b -> a
    b.bind("x.*", ("queue", 1))
    c.bind("x.y", ("exchange", "a"))  # cycle a -> b -> c -> a
    c.bind("x.y", ("queue", 1))  # same queue through two paths
    c.bind("x.y", ("sink", "s"))
    a.bind("", ("exchange", "a"))  # self-loop
    a.bind("", ("exchange", "nope"))  # dangling
    assert t.route("a", "x.y") == {("queue", 1), ("sink", "s")}
    assert t.route("c", "x.y") == {("queue", 1), ("sink", "s")}
    assert t.route("a", "z") == set()
    t.delete("c")
    assert t.route("a", "x.y") == {("queue", 1)}
    assert not b.has_dest(("exchange", "c"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd"),
                          st.sampled_from(["x", "y", "#"])), max_size=12),
       st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(["x", "y", "#"]),
                          st.integers(0, 3)), max_size=8),
       st.sampled_from("abcd"), st.sampled_from(["x", "y"]))
def test_route_equals_graph_reachability(e2e, qbinds, start, key):
    t = ExchangeTable()
    for n in "abcd":
        t.declare(n, "topic")
    for src, dst, pat in e2e:
        t.get(src).bind(pat, ("exchange", dst))
    for src, pat, q in qbinds:
        t.get(src).bind(pat, ("queue", q))
    # reference: BFS over the exchange graph with a matching edge filter
    seen, todo, want = {start}, [start], set()
    while todo:
        n = todo.pop()
        for src, dst, pat in e2e:
            if src == n and pat in (key, "#") and dst not in seen:
                seen.add(dst)
                todo.append(dst)
        for src, pat, q in qbinds:
            if src == n and pat in (key, "#"):
                want.add(("queue", q))
    assert t.route(start, key) == want
    # export / import round trip (as plain lists, the way msgpack returns it)
    data = [[n, k, [list(map(lambda v: list(v) if isinstance(v, tuple) else v, b)) for b in bs]]
            for n, k, bs in t.export()]
    t2 = ExchangeTable()
    t2.load(data)
    assert sorted(map(repr, t2.export())) == sorted(map(repr, t.export()))
    assert t2.route(start, key) == want


def test_pluggable_matcher():
    class PrefixMatcher:
        kind = "prefix"

        def __init__(self):
            self.b = {}

        def canon(self, key):
            return key

        def add(self, key, dest):
            self.b.setdefault(key, set()).add(dest)
            return True

        def remove(self, key, dest):
            self.b.get(key, set()).discard(dest)
            return True

        def match(self, routing_key, headers, message):
            return [d for k, ds in self.b.items() if message["body"].startswith(k) for d in ds]

        def __len__(self):
            return sum(map(len, self.b.values()))

    register_matcher("prefix", PrefixMatcher)
    t = ExchangeTable()
    t.declare("p", "prefix").bind("ab", ("sink", 1))
    assert t.route("p", "", None, {"body": "abc"}) == {("sink", 1)}
    assert t.route("p", "", None, {"body": "b"}) == set()
    assert isinstance(Exchange("x", "topic").matcher.__class__.__name__, str)
