"""The retained-message index of the MQ shard (services/mq/mqtt_state.py) without a
server: filters walk the level tree with MQTT's matching rules, a cleared topic
prunes its branch, and the index is rebuilt from the store."""

from __future__ import annotations

import random
from types import SimpleNamespace

from broker.core.store import MemoryPartitionStore
from broker.core.topic import mqtt_filter_to_pattern, mqtt_to_key, topic_matches
from services.mq.mqtt_state import MqttStateMixin

TOPICS = ["a", "a/b", "a/b/c", "a//c", "/a", "$SYS/load", "$x/a", "b/c", "a/b/c/d"]


class _Half(MqttStateMixin):
    def __init__(self, store):
        self.store = store
        self.part = SimpleNamespace(shard=SimpleNamespace(conn_lost_hooks=[]))


def _matches(half, flt):
    return sorted(r[1] for r in half.op_MqttRetained({"k": "r", "ns": "n", "filters": [flt]}))


def _expected(flt, topics):
    wild_root = flt[:1] in ("+", "#")
    return sorted(t for t in topics if topic_matches(mqtt_filter_to_pattern(flt), mqtt_to_key(t))
                  and not (wild_root and t.startswith("$")))


def test_filters_match_like_the_topic_trie_and_skip_dollar_topics_for_wildcards():
    store = MemoryPartitionStore(0)
    half = _Half(store)
    for t in TOPICS:
        half.op_MqttRetain({"k": "r", "ns": "n", "t": t, "q": 1, "b": t.encode()})
    half.op_MqttRetain({"k": "r", "ns": "other", "t": "a", "q": 0, "b": b"elsewhere"})
    filters = ["#", "+", "a/#", "a/+", "a/+/c", "+/+", "/+", "$SYS/#", "+/load", "a/b/c", "nothing/#", "+/#"]
    for flt in filters:
        assert _matches(half, flt) == _expected(flt, TOPICS), flt
    # clearing removes and prunes; a rebuilt index (after a restart) sees the same
    half.op_MqttRetain({"k": "r", "ns": "n", "t": "a/b/c/d", "q": 1, "b": b""})
    half.op_MqttRetain({"k": "r", "ns": "n", "t": "a", "q": 1, "b": b""})
    left = [t for t in TOPICS if t not in ("a/b/c/d", "a")]
    fresh = _Half(store)
    for h in (half, fresh):
        for flt in filters:
            assert _matches(h, flt) == _expected(flt, left), flt
    assert half._retained_tree("n").children["a"].children["b"].children["c"].children == {}


def test_random_topics_against_the_reference_matcher():
    rng = random.Random(7)
    words = ["a", "b", "", "$s"]
    topics = sorted({"/".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(60)} - {""})
    half = _Half(MemoryPartitionStore(0))
    for t in topics:
        half.op_MqttRetain({"k": "r", "ns": "n", "t": t, "q": 2, "b": b"x"})
    for _ in range(200):
        levels = [rng.choice(words[:3] + ["+"]) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.4:
            levels.append("#")
        flt = "/".join(levels)
        assert _matches(half, flt) == _expected(flt, topics), flt
