"""Exchange and queue methods of a channel (mixed into Channel).

Queues and exchanges are routing-core entities of the connection's namespace
(services/mq/realm.py ``namespace``). Every queue is also bound to the
default exchange ("") under its own name, so a publish to the default
exchange is routed at the edge like any other. Argument validation and
equivalence follow RabbitMQ (services/mq/queueargs.py).
"""

from __future__ import annotations

from pamqp import commands as C

from broker.core.exchange import EXCHANGE, QUEUE
from broker.runtime.routing import queue_key
from protocols.amqp.errors import (
    ACCESS_REFUSED, COMMAND_INVALID, NOT_FOUND, PRECONDITION_FAILED, RESOURCE_LOCKED, AmqpError,
    default_exchange_refused, locked, no_exchange, no_queue, where,
)
from services.mq.queueargs import DeclareError, check_equivalent, queue_config

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


def _b(v: bool) -> str:
    return "true" if v else "false"


def _args(table) -> dict:
    return dict(table or {})


class DeclareMixin:
    # -- exchanges -----------------------------------------------------------------
    def _exchange(self, name: str):
        table = self.conn.edge.tables.get(self.conn.ns)
        return table.get(name) if table is not None else None

    def m_exchange_declare(self, m):
        name, kind = m.exchange, m.exchange_type
        vhost = self.vhost
        if m.passive:
            ex = self._exchange(name)
            if ex is None:
                raise no_exchange(name, vhost)
            if not m.nowait:
                self.send(C.Exchange.DeclareOk())
            return None
        if name.startswith("amq.") and self._exchange(name) is None:
            raise AmqpError(ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'")
        if kind not in EXCHANGE_TYPES:
            raise AmqpError(COMMAND_INVALID, f"unknown exchange type '{kind}'")
        if name == "":
            raise default_exchange_refused()
        self.check("exchange", name, 0)
        args = _args(m.arguments)
        props = {"durable": bool(m.durable), "auto_delete": bool(m.auto_delete), "internal": bool(m.internal),
                 "args": args}
        alt = args.get("alternate-exchange")
        if isinstance(alt, bytes):
            alt = alt.decode()
        if alt:
            props["alternate"] = alt
        if not m.durable:
            props["transient"] = True
        existing = self._exchange(name)
        if existing is not None:
            self._exchange_equivalent(existing, kind, props)
            if not m.nowait:
                self.send(C.Exchange.DeclareOk())
            return None

        async def declare():
            res = await self.conn.edge.declare_exchange(self.conn.ns, name, kind, props)
            if not res["created"]:
                ex = self._exchange(name)
                if ex is not None:
                    self._exchange_equivalent(ex, kind, props)
            if not m.nowait:
                self.send(C.Exchange.DeclareOk())
        return declare()

    def _exchange_equivalent(self, ex, kind, props) -> None:
        w = where("exchange", ex.name, self.vhost)
        if ex.kind != kind:
            raise AmqpError(PRECONDITION_FAILED, f"inequivalent arg 'type' for {w}: received '{kind}' but current "
                            f"is '{ex.kind}'")
        for flag in ("durable", "auto_delete", "internal"):
            if bool(ex.props.get(flag)) != props[flag]:
                raise AmqpError(PRECONDITION_FAILED, f"inequivalent arg '{flag}' for {w}: received "
                                f"'{_b(props[flag])}' but current is '{_b(bool(ex.props.get(flag)))}'")

    def m_exchange_delete(self, m):
        name = m.exchange
        if name == "":
            raise default_exchange_refused()
        if name.startswith("amq."):
            raise AmqpError(ACCESS_REFUSED, f"operation not permitted on {where('exchange', name, self.vhost)}")
        self.check("exchange", name, 0)

        async def delete():
            from broker.runtime.routing import exchange_key
            key = exchange_key(self.conn.ns, name)
            try:
                await self.conn.edge.cluster.call(key, "core.ExchangeDelete", {"k": key, "if_unused": m.if_unused})
            except Exception as exc:
                code = getattr(exc, "code", None)
                if code == "InUse":
                    raise AmqpError(PRECONDITION_FAILED, f"{where('exchange', name, self.vhost)} in use") from None
                if code != "NotFound":
                    raise
            if not m.nowait:
                self.send(C.Exchange.DeleteOk())
        return delete()

    def m_exchange_bind(self, m):
        return self._e2e(m, bind=True)

    def m_exchange_unbind(self, m):
        return self._e2e(m, bind=False)

    def _e2e(self, m, bind: bool):
        src, dst = m.source, m.destination
        if src == "" or dst == "":
            raise default_exchange_refused()
        self.check("exchange", dst, 1)
        self.check("exchange", src, 2)
        for n in (src, dst):
            if self._exchange(n) is None:
                if not bind:
                    self.send(C.Exchange.UnbindOk()) if not m.nowait else None
                    return None
                raise no_exchange(n, self.vhost)
        ex = self._exchange(src)
        key = _args(m.arguments) if ex.kind == "headers" else m.routing_key

        async def run():
            edge = self.conn.edge
            transient = bool(ex.props.get("transient") or self._exchange(dst).props.get("transient"))
            if bind:
                await self._bind(src, key, (EXCHANGE, dst), transient)
                self.send(C.Exchange.BindOk()) if not m.nowait else None
            else:
                await edge.unbind(self.conn.ns, src, key, (EXCHANGE, dst))
                self.send(C.Exchange.UnbindOk()) if not m.nowait else None
        return run()

    async def _bind(self, exchange, key, dest, transient: bool) -> None:
        from broker.runtime.routing import exchange_key
        ek = exchange_key(self.conn.ns, exchange)
        await self.conn.edge.cluster.call(ek, "core.Bind", {"k": ek, "key": key, "dest": list(dest),
                                                            "transient": transient})

    # -- queues -------------------------------------------------------------------------
    def m_queue_declare(self, m):
        conn = self.conn
        name = m.queue
        vhost = self.vhost
        if not m.passive:
            if name.startswith("amq.") and not name.startswith("amq.rabbitmq.reply-to."):
                raise AmqpError(ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'")
            if not name:
                from protocols.amqp.channel import gen_name
                name = gen_name("amq.gen-")
            self.check("queue", name, 0)
        elif not name:
            name = self.last_queue or ""

        async def declare():
            if m.passive:
                res = await self._queue_call(name, "core.QueueDeclare", {"ns": conn.ns, "name": name,
                                                                         "passive": True})
                await self._default_binding(name, bool(res["config"].get("transient")))
            else:
                res = await self.declare_queue_core(name, durable=m.durable, exclusive=m.exclusive,
                                                    auto_delete=m.auto_delete, args=_args(m.arguments))
            self.last_queue = name
            if not m.nowait:
                counts = res["counts"]
                self.send(C.Queue.DeclareOk(queue=name, message_count=counts["visible"],
                                            consumer_count=counts.get("consumers", 0)))
        return declare()

    async def declare_queue_core(self, name, *, durable, exclusive, auto_delete, args) -> dict:
        conn = self.conn
        vhost = self.vhost
        try:
            config = queue_config(name, vhost, durable=durable, exclusive=exclusive, auto_delete=auto_delete,
                                  args=args, owner=conn.owner, default_type=conn.default_queue_type)
        except DeclareError as exc:
            raise AmqpError(exc.code, exc.text) from None
        res = await self._queue_call(name, "core.QueueDeclare", {"ns": conn.ns, "name": name, "config": config})
        if res["created"]:
            if exclusive:
                conn.exclusive_queues.add(name)
            await self._bind("", name, (QUEUE, name), not durable)
        else:
            try:
                check_equivalent(res["config"], config, name, vhost)
            except DeclareError as exc:
                raise AmqpError(exc.code, exc.text) from None
            if bool((res["config"].get("meta") or {}).get("exclusive")) != bool(exclusive):
                raise locked(name, vhost)
            await self._default_binding(name, not durable)
        return res

    async def _default_binding(self, name: str, transient: bool) -> None:
        """Declare-ok promises that the default exchange routes to the queue. A declare
        that found the queue just created by another client may come before the
        creator's binding reached this gateway's read copy: bind it (idempotent) then,
        or a publish right after would be dropped as unroutable, and confirmed."""
        t = self.conn.edge.tables.get(self.conn.ns)
        if t is None or "" not in t or (QUEUE, name) not in t.route("", name):
            await self._bind("", name, (QUEUE, name), transient)

    def _queue_error(self, exc, name) -> Exception:
        code = getattr(exc, "code", None)
        if code == "NotFound":
            return no_queue(name, self.vhost)
        if code == "ResourceLocked":
            return locked(name, self.vhost)
        if code == "InUse":
            return AmqpError(PRECONDITION_FAILED, f"{where('queue', name, self.vhost)} in use")
        if code == "NotEmpty":
            return AmqpError(PRECONDITION_FAILED, f"{where('queue', name, self.vhost)} not empty")
        return exc

    def m_queue_bind(self, m):
        return self._queue_binding(m, bind=True)

    def m_queue_unbind(self, m):
        return self._queue_binding(m, bind=False)

    def _queue_binding(self, m, bind: bool):
        queue = m.queue or self.last_queue
        if not queue:
            raise AmqpError(NOT_FOUND, "no previously declared queue")
        if m.exchange == "":
            raise default_exchange_refused()
        self.check("queue", queue, 1)
        self.check("exchange", m.exchange, 2)
        ex = self._exchange(m.exchange)
        if ex is None:
            if not bind:       # unbind is idempotent (the exchange may have gone with auto-delete)
                self.send(C.Queue.UnbindOk())
                return None
            raise no_exchange(m.exchange, self.vhost)
        key = _args(m.arguments) if ex.kind == "headers" else m.routing_key

        async def run():
            conn = self.conn
            info = await self._queue_call(queue, "core.QueueDeclare", {"ns": conn.ns, "name": queue,
                                                                       "passive": True}, missing_ok=not bind)
            if info is None:           # unbind from a queue that is gone: nothing to do
                self.send(C.Queue.UnbindOk())
                return
            transient = bool(info["config"].get("transient") or ex.props.get("transient"))
            if bind:
                await self._bind(m.exchange, key, (QUEUE, queue), transient)
                if not getattr(m, "nowait", False):
                    self.send(C.Queue.BindOk())
            else:
                await conn.edge.unbind(conn.ns, m.exchange, key, (QUEUE, queue))
                self.send(C.Queue.UnbindOk())
        return run()

    async def _queue_call(self, queue: str, op: str, args: dict, missing_ok: bool = False):
        """One core op on a queue of this vhost, with RabbitMQ's errors; None if it
        is gone and ``missing_ok``."""
        conn = self.conn
        key = queue_key(conn.ns, queue)
        try:
            return await conn.edge.cluster.call(key, op, {"k": key, "owner": conn.owner, **args})
        except Exception as exc:
            if missing_ok and getattr(exc, "code", None) == "NotFound":
                return None
            raise self._queue_error(exc, queue) from None

    def m_queue_purge(self, m):
        queue = m.queue or self.last_queue or ""
        self.check("queue", queue, 2)

        async def purge():
            n = await self._queue_call(queue, "core.Purge", {})
            if not m.nowait:
                self.send(C.Queue.PurgeOk(message_count=n))
        return purge()

    def m_queue_delete(self, m):
        queue = m.queue or self.last_queue or ""
        self.check("queue", queue, 0)

        async def delete():
            res = await self._queue_call(queue, "core.QueueDelete", {"if_unused": m.if_unused,
                                                                      "if_empty": m.if_empty}, missing_ok=True)
            self.conn.exclusive_queues.discard(queue)
            if not m.nowait:
                self.send(C.Queue.DeleteOk(message_count=res["messages"] if res else 0))
        return delete()

    HANDLERS = {
        "Exchange.Declare": m_exchange_declare, "Exchange.Delete": m_exchange_delete,
        "Exchange.Bind": m_exchange_bind, "Exchange.Unbind": m_exchange_unbind,
        "Queue.Declare": m_queue_declare, "Queue.Bind": m_queue_bind, "Queue.Unbind": m_queue_unbind,
        "Queue.Purge": m_queue_purge, "Queue.Delete": m_queue_delete,
    }


_ = (RESOURCE_LOCKED,)
