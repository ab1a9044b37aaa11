"""Asynchronous, durable fan-out of published messages.

Publish writes one record per message (kind ``sns.msg``) holding the message
and the ids of the subscriptions it matched, and returns once that record is
committed: its cost does not depend on the number of subscribers. After the
commit, the record is *expanded* in chunks: each chunk submits one durable
delivery per subscription (broker/runtime/sinks.py) and advances the
record's cursor in the same commit, so a kill -9 at any point neither loses
nor duplicates a submission; recovery resumes at the cursor.

Deliveries reference the message (``{"m": key, "s": sub id, "t": topic key}``)
instead of copying it. A record lives until it is fully expanded and every
delivery that references it has finished (delivered, or dead-lettered), then
it is deleted in the same commit as the last of them. References are counted
in memory and recounted from the delivery records on start.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque

from broker.runtime import sinks
from services.sns.attributes import (
    AWS_MANAGED_POLICY, CUSTOMER_MANAGED_POLICY, HTTP_PROTOCOLS, effective_sub_policy, retry_schedule,
)

log = logging.getLogger("broker.sns")

KIND_MSG = "sns.msg"
KIND_DEDUP = "sns.dedup"
CHUNK = 256                     # deliveries submitted per commit while expanding
EXPAND_DELAY = 0.002            # seconds between a publish's commit and the start of its fan-out
DEDUP_WINDOW_MS = 5 * 60 * 1000
DEAD = {"kind": "sns.dead", "target": {}}

DELIVERY_KINDS = {"sqs": "sns.sqs", "http": "sns.http", "https": "sns.http", "lambda": "sns.lambda",
                  "firehose": "sns.firehose", "email": "sns.email", "email-json": "sns.email", "sms": "sns.sms",
                  "application": "sns.push"}


def delivery_policy(sub, topic) -> tuple[dict, tuple | None]:
    """(retry schedule, pace) of one subscription, as SNS applies them."""
    if sub.protocol in HTTP_PROTOCOLS:
        eff = effective_sub_policy(sub.attrs.get("DeliveryPolicy"), topic.attrs.get("DeliveryPolicy"))
        throttle = eff.get("throttlePolicy") or {}
        rate = throttle.get("maxReceivesPerSecond")
        return retry_schedule(eff["healthyRetryPolicy"]), (f"sns:{sub.arn}", float(rate)) if rate else None
    if sub.protocol in ("sqs", "lambda", "firehose"):
        return AWS_MANAGED_POLICY, None
    return CUSTOMER_MANAGED_POLICY, None


class Fanout:
    def __init__(self, shard):
        self.shard = shard
        self.part = shard.part
        self.store = shard.part.store
        self.refs: dict[str, int] = {}
        self.queue: deque[str] = deque()      # records still being expanded, in publish order
        self.expanding: set[str] = set()
        self._armed = False
        for key, rec in self.store.scan(KIND_MSG):
            self.refs[key] = 0
            if rec["cur"] < len(rec["subs"]):
                self.queue.append(key)
                self.expanding.add(key)
        for _did, d in self.store.scan(sinks.KIND):
            body = d.get("body")
            if d.get("kind", "").startswith("sns.") and isinstance(body, dict) and body.get("m") in self.refs:
                self.refs[body["m"]] += 1
        for key in [k for k, n in self.refs.items() if n == 0 and k not in self.expanding]:
            self._drop(key)
        if self.queue:
            self._arm()

    # -- publish side ----------------------------------------------------------------
    def add(self, key: str, rec: dict) -> None:
        """Record a matched message; its deliveries are submitted after the commit."""
        self.store.put(KIND_MSG, key, rec)
        self.refs[key] = 0
        self.queue.append(key)
        self.expanding.add(key)
        self._arm()

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self.part.after_commit(self._expand_soon)

    def _expand_soon(self) -> None:
        # A moment's grace: the publisher's reply leaves through the gateway
        # before this process and the queues' owners get busy with the fan-out.
        asyncio.get_running_loop().call_later(EXPAND_DELAY, self._expand)

    def _expand(self) -> None:
        self._armed = False
        if self.shard.closed:
            return
        budget = CHUNK
        submit = sinks.deliveries(self.part).submit
        while self.queue and budget > 0:
            key = self.queue[0]
            rec = self.store.get(KIND_MSG, key)
            if rec is None:
                self.expanding.discard(self.queue.popleft())
                continue
            topic = self.shard.topics.get(rec["t"])
            subs = rec["subs"]
            cur = rec["cur"]
            end = min(len(subs), cur + budget)
            for sid in subs[cur:end]:
                sub = topic.subs.get(sid) if topic is not None else None
                if sub is None:
                    continue            # unsubscribed since the publish: nothing to deliver
                policy, pace = delivery_policy(sub, topic)
                order = f"{sid}/{rec.get('g')}" if rec.get("fifo") else None
                submit(DELIVERY_KINDS[sub.protocol], {}, {"m": key, "s": sid, "t": rec["t"]}, policy=policy,
                       dlq=DEAD, pace=pace, order=order)
                self.refs[key] += 1
            budget -= end - cur
            rec["cur"] = end
            if end >= len(subs):
                self.expanding.discard(self.queue.popleft())
                if self.refs[key] == 0:
                    self._drop(key)
                    continue
            self.store.put(KIND_MSG, key, rec)
        self.part.flush_soon()
        if self.queue:
            self._arm()

    # -- delivery side -----------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        return self.store.get(KIND_MSG, key)

    def release(self, key: str) -> None:
        """A delivery of `key` finished (delivered or dead-lettered)."""
        n = self.refs.get(key)
        if n is None:
            return
        n -= 1
        self.refs[key] = n
        if n <= 0 and key not in self.expanding:
            self._drop(key)
        self.part.flush_soon()

    def _drop(self, key: str) -> None:
        self.refs.pop(key, None)
        self.store.delete(KIND_MSG, key)

    def pending(self) -> int:
        return len(self.refs)


class DedupWindow:
    """FIFO topics' five-minute deduplication: (topic, [group,] id) -> (message id, sequence)."""

    def __init__(self, part):
        self.store = part.store
        self.part = part
        self.live: dict[str, tuple[str, str, int]] = {}
        self.heap: list[tuple[int, str]] = []
        now = part.now_ms()
        for key, r in list(self.store.scan(KIND_DEDUP)):
            if r["x"] <= now:
                self.store.delete(KIND_DEDUP, key)
            else:
                self.live[key] = (r["id"], r["q"], r["x"])
                heapq.heappush(self.heap, (r["x"], key))

    def _purge(self, now: int) -> None:
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = self.live.get(key)
            if entry is not None and entry[2] <= now:
                del self.live[key]
                self.store.delete(KIND_DEDUP, key)

    def seen(self, key: str, now: int) -> tuple[str, str] | None:
        self._purge(now)
        entry = self.live.get(key)
        return (entry[0], entry[1]) if entry is not None else None

    def add(self, key: str, msg_id: str, seq: str, now: int) -> None:
        exp = now + DEDUP_WINDOW_MS
        self.live[key] = (msg_id, seq, exp)
        heapq.heappush(self.heap, (exp, key))
        self.store.put(KIND_DEDUP, key, {"id": msg_id, "q": seq, "x": exp})

    def drop_topic(self, topic_key: str) -> None:
        prefix = topic_key + "\x00"
        for key in [k for k in self.live if k.startswith(prefix)]:
            del self.live[key]
            self.store.delete(KIND_DEDUP, key)
