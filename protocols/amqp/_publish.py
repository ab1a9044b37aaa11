"""basic.publish on a channel: content assembly, edge routing, publisher
confirms and transactions (mixed into Channel).

A publish is routed against the gateway's read copy of the bindings
(broker/runtime/edge.py) and handed to the edge's per-tick batch, one
core.Enqueue per target queue per tick for every connection of the gateway.
The shard answers only after its group commit, so a confirm (basic.ack) is
sent only once every target queue holds the message durably. Confirms go
out in publish order; a run of them is one ``multiple`` ack. A publish
refused by a queue's ``x-overflow: reject-publish`` is nacked.
"""

from __future__ import annotations

import asyncio
from collections import deque

from pamqp import commands as C

from broker.core.exchange import QUEUE
from broker.runtime.routing import queue_key
from protocols.amqp import _wire
from protocols.amqp.errors import (
    ACCESS_REFUSED, FRAME_ERROR, NOT_FOUND, PRECONDITION_FAILED, UNEXPECTED_FRAME, AmqpError, no_exchange, where,
)
from services.mq import amqpmsg

REPLY_TO = "amq.rabbitmq.reply-to"


class PublishMixin:
    def __init__(self):
        self.confirm = False
        self.publish_seq = 0
        self.confirm_q: deque = deque()    # [seq, targets left, nacked] in publish order
        self.confirm_scheduled = False
        self.tx = None                     # list of buffered publishes in tx mode
        self.tx_acks: list = []

    # -- content -------------------------------------------------------------------
    def m_basic_publish(self, m) -> None:
        if m.immediate:
            raise AmqpError(540, "NOT_IMPLEMENTED - immediate=true")
        self.content = [m, None, b"", [], 0]

    def _header(self, payload) -> None:
        c = self.content
        if c is None or c[1] is not None:
            raise AmqpError(UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        size, props = payload
        limit = self.conn.server.max_message_size
        if size > limit:
            raise AmqpError(PRECONDITION_FAILED, f"message size {size} is larger than configured max size {limit}")
        c[1], c[2] = size, props
        if size == 0:
            self.content = None
            self._published(c[0], props, b"")

    def _body(self, data: bytes) -> None:
        c = self.content
        if c is None or c[1] is None:
            raise AmqpError(UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        c[3].append(data)
        c[4] += len(data)
        if c[4] >= c[1]:
            if c[4] > c[1]:
                raise AmqpError(FRAME_ERROR, f"content body is larger than the {c[1]} bytes announced")
            self.content = None
            body = c[3][0] if len(c[3]) == 1 else b"".join(c[3])
            self._published(c[0], c[2], body)

    # -- routing ---------------------------------------------------------------------
    def _published(self, m, raw: bytes, body: bytes) -> None:
        conn = self.conn
        name = m.exchange
        table = conn.edge.tables.get(conn.ns)
        ex = table.get(name) if table is not None else None
        if ex is None:
            raise no_exchange(name, self.vhost)
        if ex.props.get("internal"):
            raise AmqpError(ACCESS_REFUSED, f"cannot publish to internal {where('exchange', name, self.vhost)}")
        if conn.restricted:      # the default exchange is "amq.default" to permissions, as in RabbitMQ
            self.check("exchange", name or "amq.default", 1)
        try:
            props = amqpmsg.read_props(raw)
            if props._hspan is not None:
                props.headers            # decoded now: a malformed table is the client's error
        except ValueError as exc:
            raise AmqpError(FRAME_ERROR, str(exc)) from None
        if props.user_id is not None and conn.user is not None and props.user_id != conn.user.name:
            raise AmqpError(PRECONDITION_FAILED, f"user_id property set to '{props.user_id}' but authenticated "
                            f"user was '{conn.user.name}'")
        try:
            ttl = amqpmsg.ttl_of(props)
        except ValueError:
            raise AmqpError(PRECONDITION_FAILED, f"invalid expiration '{props.expiration}': no_integer") from None
        if props.reply_to == REPLY_TO:
            if self.reply_queue is None:
                raise AmqpError(PRECONDITION_FAILED, "fast reply consumer does not exist")
            raw = amqpmsg.with_reply_to(raw, self.reply_queue)
        if self.tx is not None:
            self.tx.append((m, raw, props, body, ttl))
            return
        self._route(table, ex, m, raw, props, body, ttl)

    def _route(self, table, ex, m, raw, props, body, ttl, on_done=None) -> None:
        conn = self.conn
        rk = m.routing_key
        headers = props.headers if props._hspan is not None else None
        keys = (rk,)
        if headers and ("CC" in headers or "BCC" in headers):
            keys, raw = _sender_selected(rk, headers, raw)
        dests = _route_keys(table, ex.name, keys, headers)
        alt = ex.props.get("alternate")
        seen = {ex.name}
        while not dests and alt and alt not in seen:
            seen.add(alt)
            dests = _route_keys(table, alt, keys, headers)
            nxt = table.get(alt)
            alt = nxt.props.get("alternate") if nxt is not None else None
        queues = [d[1] for d in dests if d[0] == QUEUE]
        conn.server.counts[0] += 1
        seq = 0
        if self.confirm:
            self.publish_seq += 1
            seq = self.publish_seq
        if not queues:
            if m.mandatory:
                _wire.basic_return(conn.out, self.id, 312, "NO_ROUTE", ex.name, rk, raw, body, conn.frame_max)
                conn.flush_soon()
            if seq:
                self.confirm_q.append([seq, 0, False])
                self._confirm_soon()
            if on_done is not None:
                on_done()
            return
        payload = amqpmsg.encode(ex.name, rk, raw, body)
        opts = None
        if ttl is not None or props.priority:
            opts = {}
            if ttl is not None:
                opts["ttl_ms"] = ttl
            if props.priority:
                opts["priority"] = props.priority
        entry = [payload, len(body), "", opts]
        rec = None
        if seq:
            rec = [seq, len(queues), False]
            self.confirm_q.append(rec)
        nbytes = len(payload)
        left = [len(queues)]

        def done(result, rec=rec):
            conn.publish_done(nbytes)
            if rec is not None:
                rec[1] -= 1
                if result == "rejected" or result == "error":
                    rec[2] = True
                if rec[1] == 0:
                    self._confirm_soon()
            if on_done is not None:
                left[0] -= 1
                if left[0] == 0:
                    on_done()
        ns = conn.ns
        enqueue = conn.edge.enqueue
        for q in queues:
            conn.publish_started(nbytes)
            enqueue(queue_key(ns, q), entry, done)

    def _confirm_soon(self) -> None:
        """Emit confirms at the end of this tick, so a batch is one multiple ack."""
        if not self.confirm_scheduled:
            self.confirm_scheduled = True
            asyncio.get_running_loop().call_soon(self._emit_confirms)

    def _emit_confirms(self) -> None:
        """Acks in publish order; a run of done publishes is one multiple ack."""
        self.confirm_scheduled = False
        q = self.confirm_q
        run_end = 0
        run_len = 0
        conn = self.conn
        while q and q[0][1] == 0:
            seq, _, nacked = q.popleft()
            if nacked:
                if run_len:
                    self._ack_run(run_end, run_len)
                    run_len = 0
                conn.send_method(self.id, C.Basic.Nack(delivery_tag=seq, multiple=False, requeue=False))
            else:
                run_end = seq
                run_len += 1
        if run_len:
            self._ack_run(run_end, run_len)

    def _ack_run(self, last: int, n: int) -> None:
        self.conn.server.counts[2] += n
        if self.state == 1:
            conn = self.conn
            conn.out.append(_wire.ack(self.id, last, n > 1))
            conn.flush_soon()

    async def settle_confirms_on_close(self) -> None:
        self.confirm_q.clear()

    # -- confirms and transactions ------------------------------------------------------
    def m_confirm_select(self, m) -> None:
        if self.tx is not None:
            raise AmqpError(PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
        self.confirm = True
        if not m.nowait:
            self.send(C.Confirm.SelectOk())

    def m_tx_select(self, m) -> None:
        if self.confirm:
            raise AmqpError(PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
        if self.tx is None:
            self.tx = []
        self.send(C.Tx.SelectOk())

    def m_tx_commit(self, m):
        if self.tx is None:
            raise AmqpError(PRECONDITION_FAILED, "channel is not transactional")
        pubs, acks = self.tx, self.tx_acks
        self.tx, self.tx_acks = [], []

        async def commit():
            conn = self.conn
            table = conn.edge.tables.get(conn.ns)
            waits = []
            loop = asyncio.get_running_loop()
            for pm, raw, props, body, ttl in pubs:
                ex = table.get(pm.exchange) if table is not None else None
                if ex is None:
                    raise AmqpError(NOT_FOUND, f"no {where('exchange', pm.exchange, self.vhost)}")
                fut = loop.create_future()
                waits.append(fut)
                self._route(table, ex, pm, raw, props, body, ttl,
                            on_done=lambda f=fut: f.done() or f.set_result(None))
            edge = conn.edge
            edge.flush()
            # the transaction's acks and rejects are committed before commit-ok too
            settle: dict = {}
            for tag, multiple, requeue in acks:
                try:
                    taken = self._take(tag, multiple)
                except AmqpError:
                    continue
                for key, seq, _c, _t in taken:
                    settle.setdefault((key, requeue), []).append(seq)
            for (key, requeue), seqs in settle.items():
                args = {"k": key, "seqs": seqs} if requeue is None else {"k": key, "seqs": seqs, "requeue": requeue}
                waits.append(edge.call_soon(key, "core.Ack" if requeue is None else "core.Nack", args))
            if waits:
                # a settlement of a queue deleted meanwhile is moot
                for r in await asyncio.gather(*waits, return_exceptions=True):
                    if isinstance(r, BaseException) and getattr(r, "code", None) != "NotFound":
                        raise r
            self.send(C.Tx.CommitOk())
        return commit()

    def m_tx_rollback(self, m) -> None:
        if self.tx is None:
            raise AmqpError(PRECONDITION_FAILED, "channel is not transactional")
        self.tx, self.tx_acks = [], []
        self.send(C.Tx.RollbackOk())

    HANDLERS = {
        "Basic.Publish": m_basic_publish, "Confirm.Select": m_confirm_select, "Tx.Select": m_tx_select,
        "Tx.Commit": m_tx_commit, "Tx.Rollback": m_tx_rollback,
    }


def _route_keys(table, exchange: str, keys, headers) -> set:
    if len(keys) == 1:
        return table.route(exchange, keys[0], headers)
    out = set()
    for k in keys:
        out |= table.route(exchange, k, headers)
    return out


def _sender_selected(rk: str, headers: dict, raw: bytes) -> tuple[tuple, bytes]:
    """RabbitMQ's sender-selected distribution: the CC and BCC headers (arrays of
    strings) add routing keys; BCC is removed before the message is stored."""
    keys = [rk]
    for name in ("CC", "BCC"):
        v = headers.get(name)
        if isinstance(v, list):
            keys += [x.decode() if isinstance(x, bytes) else str(x) for x in v]
    if "BCC" in headers:
        full = amqpmsg.full_props(raw)
        full.headers = {k: v for k, v in full.headers.items() if k != "BCC"}
        raw = full.marshal()
    return tuple(dict.fromkeys(keys)), raw
