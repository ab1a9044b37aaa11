"""Delivery sinks: durable deliveries with retries, backoff, pacing and a
dead-letter target, shared by every service that pushes somewhere.

A delivery is one record in the submitting partition's store (kind
``core.delivery``), written in the same group commit as the state change
that produced it (an SNS publish, an EventBridge rule match, a dead letter,
a timer that fired), and attempted only after that commit. It is deleted
once its target has accepted it, so a kill -9 at any point re-sends it on
start: at-least-once, never lost.

    from broker.runtime import sinks
    sinks.deliveries(part).submit("http", {"url": url, "headers": [...]}, body,
                                  policy=sinks.policy(immediate=3, backoff=(10, 1, 20, "exponential")),
                                  dlq={"kind": "sqs-dlq", "target": {...}},
                                  pace=("sub-arn", 10.0), order=None, meta={...})

``kind`` picks a handler registered in this process with `register_kind`
(``async handler(delivery) -> None``; raise `Failed` to retry or give up).
Built in: ``call`` (an IPC op on the partition that owns ``target["key"]``)
and ``http`` (an HTTP request; 2xx accepted, 429/5xx/connection errors
retried, other statuses permanent unless ``target["ok"]`` widens success).

Retries follow ``policy`` (SNS's four phases: immediate, pre-backoff,
backoff with a function, post-backoff; plus a maximum age). When they are
exhausted, or the failure is permanent, the ``dlq`` spec (itself a delivery
kind and target) is submitted with the original body and ``meta["error"]``;
without one the delivery is dropped and logged. ``pace`` = (key, rate per
second) spaces deliveries sharing a key (a token bucket), so a backlog is
paced, not a burst. ``order`` = key delivers records sharing it one at a
time in submission order (FIFO topics into FIFO queues).

At most `MAX_INFLIGHT` attempts run at once per partition; the rest wait in
a ready queue, so a large backlog costs memory for its records only.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import random
import time
from collections import deque
from typing import Any, Awaitable, Callable

log = logging.getLogger("broker.sinks")

KIND = "core.delivery"
_SEQ = itertools.count()
MAX_INFLIGHT = 64
HTTP_TIMEOUT = 15.0


class Failed(Exception):
    """A delivery attempt failed; ``retryable`` False skips the remaining retries."""

    def __init__(self, reason: str, retryable: bool = True, code: str = "", status: int | None = None):
        super().__init__(reason)
        self.reason, self.retryable, self.code, self.status = reason, retryable, code, status


class Delivery:
    """What a kind handler sees: the record's fields, read-only by convention."""
    __slots__ = ("id", "kind", "target", "body", "meta", "attempt", "first_ms", "partition")

    def __init__(self, did: str, rec: dict, partition):
        self.id = did
        self.kind = rec["kind"]
        self.target = rec["target"]
        self.body = rec["body"]
        self.meta = rec.get("meta") or {}
        self.attempt = rec.get("attempt", 0) + 1      # 1 for the first attempt
        self.first_ms = rec["first"]
        self.partition = partition


Handler = Callable[[Delivery], Awaitable[Any]]
_KINDS: dict[str, Handler] = {}


def register_kind(kind: str, handler: Handler) -> None:
    """Register (or replace) the handler of a delivery kind in this process."""
    _KINDS[kind] = handler


# -- retry policies -----------------------------------------------------------

def policy(*, immediate: int = 0, pre: tuple[int, float] = (0, 0.0),
           backoff: tuple[int, float, float, str] = (0, 0.0, 0.0, "linear"),
           post: tuple[int, float] = (0, 0.0), max_age_s: float | None = None,
           jitter: bool = False) -> dict:
    """A retry schedule (plain data, stored with the delivery). Counts are
    retries after the first attempt; delays in seconds."""
    return {"immediate": immediate, "pre": list(pre), "backoff": list(backoff), "post": list(post),
            "max_age_s": max_age_s, "jitter": jitter}


FOREVER = None   # policy=None: retry until accepted, 50 ms doubling to 2 s (internal hand-offs)


def retry_delay(pol: dict | None, retry: int) -> float | None:
    """Seconds before retry number `retry` (1-based), or None when exhausted."""
    if pol is None:
        return min(0.05 * (2 ** min(retry - 1, 10)), 2.0)
    n = pol.get("immediate", 0)
    if retry <= n:
        return 0.0
    retry -= n
    count, delay = pol.get("pre", (0, 0.0))
    if retry <= count:
        return float(delay)
    retry -= count
    count, lo, hi, fn = pol.get("backoff", (0, 0.0, 0.0, "linear"))
    if retry <= count:
        d = _backoff(fn, retry, count, float(lo), float(hi))
        return d * random.uniform(0.5, 1.0) if pol.get("jitter") else d
    retry -= count
    count, delay = pol.get("post", (0, 0.0))
    if count is None or retry <= count:
        return float(delay)
    return None


def _backoff(fn: str, i: int, n: int, lo: float, hi: float) -> float:
    if n <= 1 or hi <= lo:
        return hi if n <= 1 else lo
    x = (i - 1) / (n - 1)                      # 0 .. 1 across the phase
    if fn == "linear":
        return lo + (hi - lo) * x
    if fn == "arithmetic":
        return lo + (hi - lo) * x * x
    if fn == "geometric":
        return lo * (hi / lo) ** x if lo > 0 else hi * x
    # exponential: doubles each step, capped at hi
    return min(hi, max(lo, 1e-3) * (2 ** (i - 1)))


# -- per-partition delivery engine ----------------------------------------------

class Deliveries:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.ready: deque[str] = deque()
        self.records: dict[str, dict] = {}       # live records (mirror of the store kind)
        self.inflight = 0
        self.closed = False
        self._timers: list[tuple[int, int, str]] = []   # (due ms, n, id) min-heap
        self._timer_n = 0
        self._armed: int | None = None
        self._orders: dict[str, deque[str]] = {}      # order key -> ids, head in progress
        self._buckets: dict[str, list[float]] = {}    # pace key -> [tokens, last refill s]
        self._staged = 0
        self.delivered = 0
        self.dead_lettered = 0
        self.dropped = 0
        for did, rec in list(self.store.scan(KIND)):
            self._admit(did, rec)

    # -- API ------------------------------------------------------------------
    def submit(self, kind: str, target: dict, body: Any, *, policy: dict | None = FOREVER,
               dlq: dict | None = None, pace: tuple[str, float] | None = None, order: str | None = None,
               meta: dict | None = None, delay_ms: int = 0, attempt: int = 0) -> str:
        """Record a delivery (committed with the current tick) and attempt it after the commit.
        ``attempt``: attempts already made (see `submit_failed`)."""
        now = self.part.now_ms()
        # time-ordered ids: recovery re-admits records in key order, which keeps
        # ``order`` groups in submission order across a restart
        did = f"{now:012x}{next(_SEQ) & 0xFFFFFF:06x}{os.urandom(4).hex()}"
        rec = {"kind": kind, "target": target, "body": body, "policy": policy, "dlq": dlq,
               "pace": list(pace) if pace else None, "order": order, "meta": meta or {},
               "attempt": attempt, "first": now, "next": now + delay_ms}
        self.store.put(KIND, did, rec)
        self._staged += 1

        def admit():
            self._staged -= 1
            self._admit(did, rec)
        self.part.after_commit(admit)
        return did

    def submit_failed(self, kind: str, target: dict, body: Any, error: Failed, *, policy: dict | None = FOREVER,
                      dlq: dict | None = None, pace: tuple[str, float] | None = None, order: str | None = None,
                      meta: dict | None = None) -> str | None:
        """Record a delivery whose first attempt was made outside the engine (a
        service's batched fast path) and failed with `error`: retried from the
        second attempt per `policy`, or handed to `dlq` at once when the failure
        is permanent or the policy allows no retry. Committed with the current tick."""
        delay = retry_delay(policy, 1) if error.retryable else None
        max_age = (policy or {}).get("max_age_s")
        if delay is not None and max_age is not None and delay > max_age:
            delay = None
        if delay is not None:
            return self.submit(kind, target, body, policy=policy, dlq=dlq, pace=pace, order=order, meta=meta,
                               delay_ms=int(delay * 1000), attempt=1)
        self._give_up({"kind": kind, "target": target, "body": body, "dlq": dlq, "meta": meta}, error, 1)
        return None

    def pending(self) -> int:
        """Deliveries not yet accepted (including those waiting for their commit)."""
        return len(self.records) + self._staged

    def close(self) -> None:
        self.closed = True

    # -- scheduling -------------------------------------------------------------
    def _admit(self, did: str, rec: dict) -> None:
        if self.closed or did in self.records:
            return
        self.records[did] = rec
        order = rec.get("order")
        if order is not None:
            q = self._orders.get(order)
            if q is None:
                q = self._orders[order] = deque()
            q.append(did)
            if len(q) > 1:
                return          # waits for the one ahead of it
        self._when_due(did, rec)

    def _when_due(self, did: str, rec: dict) -> None:
        due = rec["next"]
        if due <= self.part.now_ms():
            self.ready.append(did)
            self._pump()
        else:
            self._later(did, due)

    def _later(self, did: str, due: int) -> None:
        self._timer_n += 1
        heapq.heappush(self._timers, (due, self._timer_n, did))
        if self._armed is None or due < self._armed:
            self._armed = due
            self.part.schedule(due, self._on_timer)

    def _on_timer(self, now: int) -> None:
        self._armed = None
        t = self._timers
        while t and t[0][0] <= now:
            _, _, did = heapq.heappop(t)
            if did in self.records:
                self.ready.append(did)
        if t:
            self._armed = t[0][0]
            self.part.schedule(t[0][0], self._on_timer)
        self._pump()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self.ready and self.inflight < MAX_INFLIGHT and not self.closed:
            did = self.ready.popleft()
            rec = self.records.get(did)
            if rec is None:
                continue
            pace = rec.get("pace")
            if pace:
                wait = self._take_token(pace[0], float(pace[1]))
                if wait > 0:
                    self._later(did, self.part.now_ms() + int(wait * 1000) + 1)
                    continue
            self.inflight += 1
            loop.create_task(self._attempt(did, rec))

    def _take_token(self, key: str, rate: float) -> float:
        """0 if a token was taken, else seconds until one is available."""
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        b = self._buckets.get(key)
        burst = max(1.0, rate)
        if b is None:
            b = self._buckets[key] = [burst, now]
        tokens = min(burst, b[0] + (now - b[1]) * rate)
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return 0.0
        b[0] = tokens
        return (1.0 - tokens) / rate

    # -- attempts ---------------------------------------------------------------
    async def _attempt(self, did: str, rec: dict) -> None:
        error: Failed | None = None
        try:
            handler = _KINDS.get(rec["kind"])
            if handler is None:
                # the service registering it may not be loaded in this process yet
                ensure = getattr(self.part, "ensure_kind", None)
                if ensure is not None and ensure(rec["kind"]):
                    handler = _KINDS.get(rec["kind"])
            if handler is None:
                raise Failed(f"no handler for delivery kind {rec['kind']!r} in this process", True,
                             "NoHandler")
            await handler(Delivery(did, rec, self.part))
        except Failed as exc:
            error = exc
        except asyncio.CancelledError:
            self.inflight -= 1
            raise
        except Exception as exc:  # a handler bug: keep the record, retry later
            log.exception("event=delivery_handler_failed kind=%s", rec["kind"])
            error = Failed(f"{type(exc).__name__}: {exc}", True, "InternalFailure")
        self.inflight -= 1
        if self.closed or did not in self.records:
            return
        if error is None:
            self.delivered += 1
            self._finish(did)
        else:
            self._failed(did, rec, error)
        self._pump()

    def _failed(self, did: str, rec: dict, error: Failed) -> None:
        retry = rec.get("attempt", 0) + 1
        now = self.part.now_ms()
        pol = rec.get("policy")
        delay = retry_delay(pol, retry) if error.retryable else None
        max_age = (pol or {}).get("max_age_s")
        if delay is not None and max_age is not None and now + delay * 1000 - rec["first"] > max_age * 1000:
            delay = None
        if delay is not None:
            rec["attempt"] = retry
            rec["next"] = now + int(delay * 1000)
            rec["last_error"] = error.reason[:500]
            self.store.put(KIND, did, rec)
            self.part.flush_soon()
            if retry % 10 == 0 or delay >= 60:
                log.info("event=delivery_retry kind=%s attempt=%d delay=%.1fs error=%s",
                         rec["kind"], retry, delay, error.reason)
            self._later(did, rec["next"])
            return
        self._give_up(rec, error, retry)
        self._finish(did)

    def _give_up(self, rec: dict, error: Failed, attempts: int) -> None:
        """Retries exhausted or pointless: to the dead-letter target, or dropped."""
        dlq = rec.get("dlq")
        info = {"reason": error.reason, "code": error.code, "status": error.status,
                "attempts": attempts, "retryable": error.retryable}
        if dlq:
            meta = {**(dlq.get("meta") or {}), "error": info, "source": rec.get("meta") or {},
                    "source_target": rec["target"]}
            self.submit(dlq["kind"], dlq["target"], rec["body"], policy=dlq.get("policy", FOREVER),
                        meta=meta)
            self.dead_lettered += 1
        else:
            self.dropped += 1
            log.warning("event=delivery_dropped kind=%s attempts=%d error=%s", rec["kind"], attempts,
                        error.reason)

    def _finish(self, did: str) -> None:
        rec = self.records.pop(did, None)
        self.store.delete(KIND, did)
        self.part.flush_soon()
        order = rec.get("order") if rec else None
        if order is not None:
            q = self._orders.get(order)
            if q and q[0] == did:
                q.popleft()
                while q and q[0] not in self.records:
                    q.popleft()
                if q:
                    nxt = q[0]
                    self._when_due(nxt, self.records[nxt])
                else:
                    del self._orders[order]


def deliveries(part) -> Deliveries:
    """The partition's delivery engine (built, and its backlog reloaded, on first use)."""
    d = getattr(part, "_deliveries", None)
    if d is None:
        d = part._deliveries = Deliveries(part)
    return d


# -- built-in kinds ----------------------------------------------------------------

async def _call(d: Delivery) -> None:
    t = d.target
    try:
        await d.partition.call(t["key"], t["op"], dict(d.body))
    except Exception as exc:
        code = getattr(exc, "code", "")
        if code and code in (t.get("give_up") or ()):
            log.info("event=delivery_target_gone key=%s code=%s", t["key"], code)
            return
        raise Failed(str(exc), True, code or type(exc).__name__) from None


_sessions: dict = {}     # event loop -> aiohttp session (one loop per process in practice)


async def _http_session():
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        import aiohttp   # loaded on the first HTTP delivery only
        for old in [lp for lp in _sessions if lp.is_closed()]:
            del _sessions[old]
        session = _sessions[loop] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT), connector=aiohttp.TCPConnector(limit=256, ssl=False))
    return session


async def close_http() -> None:
    """Close this loop's HTTP client (process exit, tests)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def _status_ok(status: int, ok: list | None) -> bool:
    if ok:
        return ok[0] <= status <= ok[1]
    return 200 <= status < 300


async def http_request(method: str, url: str, headers: list | dict | None, body: bytes | None,
                       timeout: float | None = None) -> tuple[int, dict, bytes]:
    """One HTTP request from a worker process (shared client, connection reuse)."""
    import aiohttp
    session = await _http_session()
    kw = {}
    if timeout is not None:
        kw["timeout"] = aiohttp.ClientTimeout(total=timeout)
    async with session.request(method, url, headers=headers, data=body, allow_redirects=False, **kw) as r:
        return r.status, dict(r.headers), await r.read()


async def _http(d: Delivery) -> None:
    t = d.target
    body = d.body if isinstance(d.body, (bytes, bytearray)) or d.body is None else str(d.body).encode()
    try:
        status, _h, _b = await http_request(t.get("method", "POST"), t["url"], t.get("headers"), body,
                                            t.get("timeout"))
    except Exception as exc:   # connection refused, DNS, timeout, TLS
        raise Failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, True,
                     "ConnectionError") from None
    if _status_ok(status, t.get("ok")):
        return
    retryable = status == 429 or status >= 500 or status == 408
    raise Failed(f"HTTP {status}", retryable, f"HTTP{status}", status)


register_kind("call", _call)
register_kind("http", _http)
