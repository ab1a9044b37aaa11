"""Topic trie vs. a brute-force regex matcher; MQTT mapping."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from broker.core.topic import (
    TopicTrie, key_to_mqtt, mqtt_filter_to_pattern, mqtt_to_key,
    pattern_to_mqtt_filter, split_key, topic_matches,
)

WORDS = st.sampled_from(["a", "b", "c", ""])
PWORDS = st.sampled_from(["a", "b", "c", "", "*", "#"])


def regex_match(pattern: str, key: str) -> bool:
    """Brute force: compile the pattern to a regex over '.'-joined words,
    with RabbitMQ's split (empty string = zero words)."""
    pw = split_key(pattern)
    kw = split_key(key)
    # encode each word as "<word>/" so zero words is "" and empty words are "/"
    text = "".join(w + "/" for w in kw)
    rx = ""
    for w in pw:
        if w == "#":
            rx += r"(?:[^/]*/)*"
        elif w == "*":
            rx += r"[^/]*/"
        else:
            rx += re.escape(w) + "/"
    return re.fullmatch(rx, text) is not None


keys = st.lists(WORDS, max_size=6).map(".".join)
patterns = st.lists(PWORDS, max_size=6).map(".".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(patterns, max_size=25), st.lists(keys, min_size=1, max_size=10))
def test_trie_matches_brute_force(pats, ks):
    trie = TopicTrie()
    for i, p in enumerate(pats):
        trie.add(p, ("queue", i))
    for k in ks:
        got = set(trie.match(k))
        want = {("queue", i) for i, p in enumerate(pats) if regex_match(p, k)}
        assert got == want, (k, pats)
        for i, p in enumerate(pats):
            assert topic_matches(p, k) == regex_match(p, k)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(patterns, st.integers(0, 4)), max_size=30), st.data())
def test_trie_add_remove_bindings_roundtrip(binds, data):
    trie = TopicTrie()
    live = set()
    for p, d in binds:
        assert trie.add(p, d) == ((p, d) not in live)
        live.add((p, d))
    drop = data.draw(st.lists(st.sampled_from(sorted(live)), max_size=10)) if live else []
    for p, d in drop:
        assert trie.remove(p, d) == ((p, d) in live)
        live.discard((p, d))
    assert len(trie) == len(live)
    assert set(trie.bindings()) == live
    k = data.draw(keys)
    assert set(trie.match(k)) == {d for p, d in live if regex_match(p, k)}
    for p, d in list(live):
        trie.remove(p, d)
    assert not trie.root.children and not trie.root.dests


def test_hash_edge_cases():
    cases = [
        ("#", "", True), ("#", "a", True), ("#", "a.b", True), ("*", "", False),
        ("*", "a", True), ("", "", True), ("", "a", False), ("a.#", "a", True),
        ("#.a", "a", True), ("#.#", "", True), ("a.#.b", "a.b", True), ("a.#.b", "a.x.y.b", True),
        ("a.*.b", "a..b", True), ("a..b", "a..b", True), ("a.*", "a.", True), ("*.*", ".", True),
        ("#.*", "", False), ("#.#.#.a", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.b", False),
    ]
    for p, k, want in cases:
        t = TopicTrie()
        t.add(p, "d")
        assert bool(t.match(k)) == want, (p, k)
        assert regex_match(p, k) == want, (p, k)


def test_many_hashes_is_polynomial():
    t = TopicTrie()
    t.add(".".join(["#"] * 12 + ["z"]), "d")
    assert not t.match(".".join(["a"] * 200))
    assert t.match(".".join(["a"] * 200 + ["z"]))


def test_mqtt_mapping_and_dollar_topics():
    assert mqtt_to_key("a/b/c") == "a.b.c"
    assert mqtt_to_key("a/b.c") == "a.b/c"
    assert key_to_mqtt(mqtt_to_key("x.y/z//")) == "x.y/z//"
    assert mqtt_filter_to_pattern("sport/+/player1/#") == "sport.*.player1.#"
    assert pattern_to_mqtt_filter("sport.*.#") == "sport/+/#"
    t = TopicTrie(dollar_exempt=True)
    t.add(mqtt_filter_to_pattern("#"), "all")
    t.add(mqtt_filter_to_pattern("+/monitor/Clients"), "plus")
    t.add(mqtt_filter_to_pattern("$SYS/#"), "sys")
    t.add(mqtt_filter_to_pattern("$SYS/monitor/+"), "sys2")
    assert set(t.match(mqtt_to_key("$SYS/monitor/Clients"))) == {"sys", "sys2"}
    assert set(t.match(mqtt_to_key("a/monitor/Clients"))) == {"all", "plus"}
    # MQTT '#' also matches the parent level, '+' matches an empty level
    t2 = TopicTrie()
    t2.add(mqtt_filter_to_pattern("sport/#"), "s")
    t2.add(mqtt_filter_to_pattern("+/a"), "p")
    assert set(t2.match(mqtt_to_key("sport"))) == {"s"}
    assert set(t2.match(mqtt_to_key("/a"))) == {"p"}
