"""Topic routing: AMQP 0-9-1 topic semantics on a trie, plus MQTT mapping.

Words are split on ``.``; ``*`` matches exactly one word, ``#`` zero or more.
Splitting follows RabbitMQ: the empty key has zero words, ``"a..b"`` is
``["a", "", "b"]`` and ``"a."`` is ``["a", ""]``.

Matching walks only trie edges that can match (the literal word, ``*``,
``#``), and memoises (node, position) pairs, so its cost does not depend on
bindings that cannot match and a pattern with several ``#`` stays
polynomial.

MQTT (ARCHITECTURE "The routing core"): topic ``a/b/c`` is routing key
``a.b.c``; ``+`` is ``*`` and ``#`` is ``#``. A ``.`` inside an MQTT level is
mapped to ``/`` (RabbitMQ does the same swap) so the mapping is a bijection.
MQTT 4.7.2: filters starting with a wildcard do not match topics whose first
level starts with ``$``; ``TopicTrie(dollar_exempt=True)`` applies that rule.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TopicTrie", "split_key", "mqtt_to_key", "key_to_mqtt", "mqtt_filter_to_pattern",
    "pattern_to_mqtt_filter", "topic_matches",
]

_STAR = "*"
_HASH = "#"


def split_key(key: str) -> list[str]:
    """RabbitMQ's split: ``""`` -> ``[]``, otherwise ``key.split(".")``."""
    return key.split(".") if key else []


class _Node:
    __slots__ = ("children", "dests", "parent", "word")

    def __init__(self, parent: "_Node | None", word: str | None) -> None:
        self.children: dict[str, _Node] = {}
        self.dests: dict[Any, None] = {}  # insertion-ordered set
        self.parent = parent
        self.word = word


class TopicTrie:
    """Binding patterns -> destinations; ``match(key)`` returns matched destinations."""

    __slots__ = ("root", "count", "dollar_exempt")

    def __init__(self, *, dollar_exempt: bool = False) -> None:
        self.root = _Node(None, None)
        self.count = 0
        self.dollar_exempt = dollar_exempt

    def __len__(self) -> int:
        return self.count

    def add(self, pattern: str, dest: Any) -> bool:
        node = self.root
        for w in split_key(pattern):
            nxt = node.children.get(w)
            if nxt is None:
                nxt = node.children[w] = _Node(node, w)
            node = nxt
        if dest in node.dests:
            return False
        node.dests[dest] = None
        self.count += 1
        return True

    def remove(self, pattern: str, dest: Any) -> bool:
        node = self.root
        for w in split_key(pattern):
            node = node.children.get(w)
            if node is None:
                return False
        if dest not in node.dests:
            return False
        del node.dests[dest]
        self.count -= 1
        # prune empty branches
        while node.parent is not None and not node.dests and not node.children:
            del node.parent.children[node.word]
            node = node.parent
        return True

    def bindings(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        stack: list[tuple[_Node, tuple[str, ...]]] = [(self.root, ())]
        while stack:
            node, words = stack.pop()
            key = ".".join(words)
            for d in node.dests:
                out.append((key, d))
            for w, ch in node.children.items():
                stack.append((ch, words + (w,)))
        return out

    def match(self, key: str) -> dict[Any, None]:
        """Destinations whose pattern matches ``key`` (an insertion-ordered dict used as a set)."""
        words = split_key(key)
        n = len(words)
        out: dict[Any, None] = {}
        root = self.root
        # fast path: a key with no '#' bindings on the way needs no memo;
        # the memo set is created only when a '#' edge is taken.
        seen: set[tuple[int, int]] | None = None
        stack: list[tuple[_Node, int]] = [(root, 0)]
        skip_wild_root = self.dollar_exempt and n > 0 and words[0][:1] == "$"
        while stack:
            node, i = stack.pop()
            ch = node.children
            if i == n:
                if node.dests:
                    out.update(node.dests)
                h = ch.get(_HASH)
                if h is not None and not (skip_wild_root and node is root):
                    if seen is None:
                        seen = set()
                    k = (id(h), i)
                    if k not in seen:
                        seen.add(k)
                        stack.append((h, i))
                continue
            if not ch:
                continue
            nxt = ch.get(words[i])
            if nxt is not None:
                stack.append((nxt, i + 1))
            if skip_wild_root and node is root:
                continue
            nxt = ch.get(_STAR)
            if nxt is not None and words[i] != _STAR:  # a literal '*' word was followed above
                stack.append((nxt, i + 1))
            h = ch.get(_HASH)
            if h is not None:
                # '#' consumes words[i:j] for every j in i..n
                if seen is None:
                    seen = set()
                hid = id(h)
                for j in range(i, n + 1):
                    k = (hid, j)
                    if k not in seen:
                        seen.add(k)
                        stack.append((h, j))
        return out


def topic_matches(pattern: str, key: str) -> bool:
    """One pattern against one key (no trie; for tests and one-off checks)."""
    p = split_key(pattern)
    k = split_key(key)
    memo: dict[tuple[int, int], bool] = {}

    def rec(i: int, j: int) -> bool:
        r = memo.get((i, j))
        if r is not None:
            return r
        if i == len(p):
            r = j == len(k)
        elif p[i] == _HASH:
            r = rec(i + 1, j) or (j < len(k) and rec(i, j + 1))
        elif j < len(k) and (p[i] == _STAR or p[i] == k[j]):
            r = rec(i + 1, j + 1)
        else:
            r = False
        memo[(i, j)] = r
        return r

    return rec(0, 0)


# ----------------------------------------------------------------- MQTT mapping
_M2A = str.maketrans({"/": ".", ".": "/"})


def mqtt_to_key(topic: str) -> str:
    """MQTT topic name -> routing key (``a/b.c`` -> ``a.b/c``)."""
    return topic.translate(_M2A)


def key_to_mqtt(key: str) -> str:
    return key.translate(_M2A)


def mqtt_filter_to_pattern(flt: str) -> str:
    """MQTT topic filter -> binding pattern (``+`` -> ``*``, ``#`` stays)."""
    return ".".join("*" if w == "+" else w for w in flt.translate(_M2A).split("."))


def pattern_to_mqtt_filter(pattern: str) -> str:
    return ".".join("+" if w == "*" else w for w in pattern.split(".")).translate(_M2A)

