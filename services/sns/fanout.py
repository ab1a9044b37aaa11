"""Asynchronous, durable fan-out of published messages.

Publish writes one record per message (kind ``sns.msg``) holding the message
and the ids of the subscriptions it matched, and returns once that record is
committed: its cost does not depend on the number of subscribers. After the
commit, the record is *expanded* in chunks: each chunk submits one durable
delivery per subscription (broker/runtime/sinks.py) and advances the
record's cursor in the same commit, so a kill -9 at any point neither loses
nor duplicates a submission; recovery resumes at the cursor.

SQS subscriptions of standard topics skip the per-delivery sink record:
expanding lists them in the message record itself (``p``, written with the
cursor), and they are sent in batches straight from here, many in flight at
once; a batch's outcome is written back in one commit (``p`` shrinks, or the
record goes). A delivery that fails is handed to the sinks then, as its
second attempt (retries, redrive DLQ). A kill -9 before the outcome is
committed re-sends what ``p`` still lists: at-least-once. FIFO topics keep
the sinks path, whose order keys keep each group in order.

Deliveries reference the message (``{"m": key, "s": sub id, "t": topic key}``)
instead of copying it. A record lives until it is fully expanded and every
delivery that references it has finished (delivered, or dead-lettered), then
it is deleted in the same commit as the last of them. References are counted
in memory and recounted from the delivery records (and ``p``) on start.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque

from broker.runtime import sinks
from services.sns.delivery import BATCH_ENTRIES, batchable, send_sqs, send_sqs_batch
from services.sns.attributes import (
    AWS_MANAGED_POLICY, CUSTOMER_MANAGED_POLICY, HTTP_PROTOCOLS, effective_sub_policy, retry_schedule,
)

log = logging.getLogger("broker.sns")

KIND_MSG = "sns.msg"
KIND_DEDUP = "sns.dedup"
CHUNK = 256                     # deliveries submitted per commit while expanding
ROUND_CALLS = 256               # direct SQS calls per round (one round in flight per partition)
SLICE = 16                      # calls started per loop iteration
ROUND_GAP = 0.002               # seconds from a round's start to the next one's, at least
EXPAND_DELAY = 0.002            # seconds between a publish's commit and the start of its fan-out
DEDUP_WINDOW_MS = 5 * 60 * 1000
DEAD = {"kind": "sns.dead", "target": {}}
_GONE = object()

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
        self.direct: dict[str, set[str]] = {}     # record key -> direct SQS deliveries not yet confirmed
        self.ready: deque[tuple[str, str]] = deque()   # (record key, sub id) waiting for a slot
        self.rounds = 0
        self._round_at = 0.0                      # loop time the last round started
        self._fg: asyncio.Future | None = None    # a publish waiting for its commit
        for key, rec in self.store.scan(KIND_MSG):
            self.refs[key] = 0
            if rec.get("p"):                  # sent before a restart, outcome not committed: again
                self.direct[key] = set(rec["p"])
                self.refs[key] = len(rec["p"])
                self.ready.extend((key, sid) for sid in rec["p"])
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
        if self.ready:
            log.info("event=sns_fanout_resumed records=%d direct=%d", len(self.refs), len(self.ready))
            self.part.after_commit(self._pump)

    # -- publish side ----------------------------------------------------------------
    def foreground(self) -> None:
        """A publish is in this tick: fan-out slices wait until its commit is done
        and its reply written (foreground before background)."""
        if self._fg is None:
            self._fg = asyncio.get_running_loop().create_future()
            self.part.after_commit(self._foreground_done)

    def _foreground_done(self) -> None:
        fut, self._fg = self._fg, None
        if fut is not None and not fut.done():
            fut.set_result(None)

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
            direct = None if rec.get("fifo") else self.direct.get(key)
            for sid in subs[cur:end]:
                sub = topic.subs.get(sid) if topic is not None else None
                if sub is None:
                    continue            # unsubscribed since the publish: nothing to deliver
                if sub.protocol == "sqs" and not rec.get("fifo"):
                    if direct is None:
                        direct = self.direct[key] = set()
                    direct.add(sid)
                    self.ready.append((key, sid))
                    self.refs[key] += 1
                    continue
                policy, pace = delivery_policy(sub, topic)
                order = f"{sid}/{rec.get('g')}" if rec.get("fifo") else None
                submit(DELIVERY_KINDS[sub.protocol], {}, {"m": key, "s": sid, "t": rec["t"]}, policy=policy,
                       dlq=DEAD, pace=pace, order=order)
                self.refs[key] += 1
            budget -= end - cur
            rec["cur"] = end
            if direct:
                rec["p"] = list(direct)
            if end >= len(subs):
                self.expanding.discard(self.queue.popleft())
                if self.refs[key] == 0:
                    self._drop(key)
                    continue
            self.store.put(KIND_MSG, key, rec)
        self.part.flush_soon()
        if self.ready:
            self.part.after_commit(self._pump)
        if self.queue:
            self._arm()

    # -- direct SQS deliveries -----------------------------------------------------------
    def _pump(self) -> None:
        if self.rounds or self.shard.closed or not self.ready:
            return
        self.rounds = 1
        asyncio.get_running_loop().create_task(self._rounds())

    async def _rounds(self) -> None:
        """One round at a time, each taking all that is ready, grouped by subscription:
        publishes that arrive while a round is out go together in the next one (as
        SendMessageBatch calls of up to 10), so a backlog costs fewer, larger calls.
        Calls start a slice at a time, letting requests in between."""
        loop = asyncio.get_running_loop()
        try:
            while self.ready and not self.shard.closed:
                wait = self._round_at + ROUND_GAP - loop.time()
                if wait > 0:              # under sustained publishing: gather a little more per call
                    await asyncio.sleep(wait)
                self._round_at = loop.time()
                ready, groups, calls = self.ready, {}, []
                while ready and len(calls) < ROUND_CALLS:
                    key, sid = item = ready.popleft()
                    g = groups.get(sid)
                    if g is None or len(g) >= BATCH_ENTRIES:
                        g = groups[sid] = []
                        calls.append(g)
                    g.append(item)
                futs = []
                for i in range(0, len(calls), SLICE):
                    if self._fg is not None:
                        await self._fg        # a publish first (one wait per slice: no starvation)
                    elif i:
                        await asyncio.sleep(0)
                    futs.extend(loop.create_task(self._send(items)) for items in calls[i:i + SLICE])
                outcomes = await asyncio.gather(*futs, return_exceptions=True)
                if self.shard.closed:
                    return
                self._settle(calls, outcomes)
        finally:
            self.rounds = 0

    def _settle(self, calls: list, outcomes: list) -> None:
        """A round's outcome, in one commit: delivered ones released, failed ones
        handed to the sinks, each message record written once (or deleted)."""
        touched = set()
        for items, results in zip(calls, outcomes):
            if isinstance(results, BaseException):
                results = [results] * len(items)
            for (key, sid), res in zip(items, results):
                pend = self.direct.get(key)
                if pend is None or sid not in pend:
                    continue
                pend.discard(sid)
                touched.add(key)
                rec = self.store.get(KIND_MSG, key)
                t = self.shard.topics.get(rec["t"]) if rec is not None else None
                if res is None:
                    self.shard.delivered({"m": key}, t)
                elif res is _GONE or rec is None:
                    self.release(key)
                else:
                    self._hand_over(key, sid, rec, t, res)
        for key in touched:           # one write per message record, if it stays
            pend = self.direct.get(key)
            if not pend:
                self.direct.pop(key, None)
            rec = self.store.get(KIND_MSG, key) if key in self.refs else None
            if rec is not None:
                if pend:
                    rec["p"] = list(pend)
                else:
                    rec.pop("p", None)
                self.store.put(KIND_MSG, key, rec)
        self.part.flush_soon()

    async def _send(self, items: list[tuple[str, str]]) -> list:
        """One call for deliveries to one subscription: per item None, _GONE or a Failed."""
        sid = items[0][1]
        out: list = [_GONE] * len(items)
        batch, where = [], []
        bt = bs = None
        for i, (key, _sid) in enumerate(items):
            rec = self.store.get(KIND_MSG, key)
            t = self.shard.topics.get(rec["t"]) if rec is not None else None
            s = t.subs.get(sid) if t is not None else None
            if s is None:
                continue            # unsubscribed (or topic deleted) since the publish
            if len(items) > 1 and batchable(rec, s):
                batch.append(rec)
                where.append(i)
                bt, bs = t, s
                continue
            try:
                await send_sqs(self.part, rec, t, s)
                out[i] = None
            except sinks.Failed as exc:
                out[i] = exc
        if len(batch) == 1:
            try:
                await send_sqs(self.part, batch[0], bt, bs)
                out[where[0]] = None
            except sinks.Failed as exc:
                out[where[0]] = exc
        elif batch:
            for i, res in zip(where, await send_sqs_batch(self.part, bt, bs, batch)):
                out[i] = res
        return out

    def _hand_over(self, key: str, sid: str, rec: dict, t, error: BaseException) -> None:
        """A direct delivery failed: the sinks take it over as its second attempt
        (the reference moves with it)."""
        if not isinstance(error, sinks.Failed):
            log.error("event=sns_direct_delivery_failed error=%r", error)
            error = sinks.Failed(f"{type(error).__name__}: {error}", True, "InternalFailure")
        s = t.subs.get(sid) if t is not None else None
        if s is None:
            self.release(key)
            return
        policy, _pace = delivery_policy(s, t)
        sinks.deliveries(self.part).submit_failed(DELIVERY_KINDS["sqs"], {}, {"m": key, "s": sid, "t": rec["t"]},
                                                  error, policy=policy, dlq=DEAD)

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
        self.direct.pop(key, None)
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
