"""One MQTT 3.1.1 client connection: the asyncio.Protocol adapter and the
connection's state machine (CONNECT, session, keepalive, will, close).

Bytes go to the sans-IO framer (_codec.py); packets are handled in order.
CONNECT, SUBSCRIBE and UNSUBSCRIBE cross to the shards: while one runs, the
packets behind it wait in the framer, so a PUBLISH after a SUBSCRIBE sees the
new binding. Everything written in one loop tick goes out in one write.

    AWAIT_CONNECT --CONNECT--> CONNECTING --auth + session--> OPEN
    OPEN --DISCONNECT--> CLOSED (no will)
    any --socket closed / keepalive x1.5 / protocol error / taken over--> CLOSED (will published)

The will is recorded at the session's shard with CONNECT and published from
there (mq.MqttDisconnect, a takeover, or the death of this gateway process),
so it survives a kill -9 of the gateway holding the connection.

Inbound publishes are routed at the edge (broker/runtime/edge.py) and
acknowledged, in the order received, once every target queue (and the
retained store) has committed them; QoS 2 ones are held at the session until
PUBREL (services/mq/mqtt_state.py). Deliveries: _outbound.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque

from broker.core.exchange import QUEUE
from broker.core.topic import TopicTrie, mqtt_filter_to_pattern, mqtt_to_key
from broker.runtime.routing import exchange_key, queue_key
from protocols.mqtt import _codec as C
from protocols.mqtt._outbound import OutboundMixin
from protocols.mqtt.errors import (
    BAD_USERNAME_OR_PASSWORD, IDENTIFIER_REJECTED, NOT_AUTHORIZED, SERVER_UNAVAILABLE, SUBACK_FAILURE, MqttError,
)
from services.mq import mqttmsg
from services.mq.mqtt_state import retained_key
from services.mq.realm import Realm, namespace

log = logging.getLogger("broker.mqtt")

AWAIT_CONNECT, CONNECTING, OPEN, CLOSED = range(4)
HIGH_WATER = 8 * 1024 * 1024       # bytes of publishes in flight to shards before reading pauses
LOW_WATER = 2 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
KEY_CACHE = 4096                   # per process (publishers reuse their topics)
VOLATILE = {"volatile": True}      # QoS 0: not queued for an offline session (broker/runtime/routing.py)
ROUTE_CACHE = 4096                 # (namespace, routing key) -> queue keys, per server
_keys: dict[str, str] = {}         # topic -> routing key
_headers: dict[tuple, bytes] = {}  # (routing key, QoS) -> stored-message header (message = header + body)


def routing_key(topic: str) -> str:
    rk = _keys.get(topic)
    if rk is None:
        if len(_keys) >= KEY_CACHE:
            _keys.clear()
        rk = _keys[topic] = mqtt_to_key(topic)
    return rk


def message_header(rk: str, qos: int) -> bytes:
    h = _headers.get((rk, qos))
    if h is None:
        if len(_headers) >= KEY_CACHE:
            _headers.clear()
        h = _headers[(rk, qos)] = mqttmsg.encode(rk, qos, b"")
    return h


class MqttConnection(OutboundMixin, asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.edge = server.edge
        self.transport = None
        self.framer = C.Framer(server.max_packet_size)
        self.out: list = []
        self._flush_scheduled = False
        self.state = AWAIT_CONNECT
        self.peer = None
        self.conn_id = self.edge.new_connection_id()
        self.client_id = ""
        self.clean = True
        self.keepalive = 0
        self.user = None
        self.vhost = "/"
        self.ns = ""
        self.qname = self.qkey = self.tag = ""
        self.may_publish = True
        self.subs: dict[str, int] = {}
        self.trie = TopicTrie(dollar_exempt=True)      # routing-key patterns -> filters ([MQTT-4.7.2-1])
        self.acks: deque = deque()        # [packet bytes, pending] in the order the client sent them
        self.in2: set = set()             # inbound QoS 2 packet ids held until PUBREL
        self.inflight_bytes = 0
        self.busy = False                 # a CONNECT/SUBSCRIBE/UNSUBSCRIBE crosses to the shards
        self.read_paused = False
        self.graceful = False             # DISCONNECT received: no will
        self.closed = False
        self.last_recv = time.monotonic()
        self._timer = None
        self.tasks: set = set()
        OutboundMixin.__init__(self)

    # -- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else None
        self.server.connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._connect_timeout)

    def data_received(self, data: bytes) -> None:
        self.last_recv = time.monotonic()
        self.framer.receive_data(data)
        self._process()

    def _process(self) -> None:
        framer = self.framer
        try:
            while not self.closed and not self.busy:
                ev = framer.next_packet()
                if ev is C.NEED_DATA:
                    break
                self._packet(*ev)
        except MqttError as exc:
            self._protocol_error(exc)
        except Exception:
            log.exception("event=mqtt_packet_failed client=%s", self.client_id)
            self._close()
        self.flush_soon()

    def connection_lost(self, exc) -> None:
        if self.state == CLOSED:
            return
        self.closed = True
        was_open = self.state == OPEN
        self.state = CLOSED
        self.server.connections.discard(self)
        self.server.gateway.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if was_open:
            self.spawn(self._cleanup())

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.consumer is not None:
            self.spawn(self.edge.block(self.consumer, True))

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.consumer is not None:
            self.spawn(self.edge.block(self.consumer, False))

    # -- output ---------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush_soon(self) -> None:
        if not self._flush_scheduled and self.out:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self.out:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out = []
            t = self.transport
            if t is not None and not t.is_closing():
                self.send_bytes(data)

    def send_bytes(self, data: bytes) -> None:
        self.transport.write(data)

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("event=mqtt_background_failed client=%s error=%r", self.client_id, task.exception())

    # -- packets ----------------------------------------------------------------------
    def _packet(self, ptype: int, flags: int, body: bytes) -> None:
        if self.state != OPEN:
            if self.state == AWAIT_CONNECT and ptype == C.CONNECT:
                self._hold(self._connect(C.decode_connect(flags, body)))
                return
            raise MqttError(f"{C.NAMES[ptype]} before CONNECT [MQTT-3.1.0-1]")
        if ptype == C.PUBLISH:
            self._publish(flags, body)
        elif ptype == C.PUBACK:
            self.on_puback(C.decode_pid(ptype, body))
        elif ptype == C.PUBREC:
            self.on_pubrec(C.decode_pid(ptype, body))
        elif ptype == C.PUBCOMP:
            self.on_pubcomp(C.decode_pid(ptype, body))
        elif ptype == C.PUBREL:
            self._pubrel(C.decode_pid(ptype, body))
        elif ptype == C.PINGREQ:
            if body:
                raise MqttError("PINGREQ with a body [MQTT-3.12]")
            self.write(C.PINGRESP_BYTES)
        elif ptype == C.SUBSCRIBE:
            self._hold(self._subscribe(*C.decode_subscribe(flags, body)))
        elif ptype == C.UNSUBSCRIBE:
            self._hold(self._unsubscribe(*C.decode_unsubscribe(flags, body)))
        elif ptype == C.DISCONNECT:
            if body:
                raise MqttError("DISCONNECT with a body [MQTT-3.14]")
            self.graceful = True          # the will is discarded [MQTT-3.14.4-3]
            self._close()
        elif ptype == C.CONNECT:
            raise MqttError("a second CONNECT [MQTT-3.1.0-2]")
        else:
            raise MqttError(f"{C.NAMES[ptype]} is sent by servers only")

    def _hold(self, coro) -> None:
        """Run an async step; packets behind it wait in the framer until it is done."""
        self.busy = True

        async def step():
            try:
                await coro
            except MqttError as exc:
                self._protocol_error(exc)
            except Exception as exc:
                log.warning("event=mqtt_step_failed client=%s error=%r", self.client_id, exc)
                self._close()
            finally:
                self.busy = False
                if not self.closed and self.framer.buffered and not self.read_paused:
                    self._process()
                self.flush_soon()
        self.spawn(step())

    # -- CONNECT -------------------------------------------------------------------------
    async def _connect(self, c: C.Connect) -> None:
        self.state = CONNECTING
        server = self.server
        username, vhost = c.username, None
        if username and ":" in username and server.broker_is_default:
            vhost, _, username = username.partition(":")       # RabbitMQ's "vhost:user"
        if username is None:
            user = await server.anonymous(self.peer)
            if user is None:
                return self._refuse(NOT_AUTHORIZED, "anonymous connections are not allowed")
        else:
            user = await server.realm.authenticate(server.broker, username, c.password or "", self.peer)
            if user is None:
                return self._refuse(BAD_USERNAME_OR_PASSWORD, f"login refused for user {username!r}")
        if self.closed:
            return
        vhost = vhost or server.vhost
        if not await server.realm.vhost_exists(server.broker, vhost) or user.permissions(vhost) is None:
            return self._refuse(NOT_AUTHORIZED, f"user {user.name!r} may not use vhost {vhost!r}")
        client_id = c.client_id
        if not client_id:
            if not c.clean:                    # [MQTT-3.1.3-8]
                return self._refuse(IDENTIFIER_REJECTED, "zero-length client id without clean session")
            client_id = "auto-" + os.urandom(12).hex()
        self.user, self.vhost, self.client_id, self.clean = user, vhost, client_id, c.clean
        self.may_publish = Realm.allowed(user, vhost, 1, mqttmsg.EXCHANGE)
        self.keepalive = c.keepalive
        self.ns = namespace(server.broker, vhost)
        will = None
        if c.will is not None and self.may_publish:
            topic, body, qos, retain = c.will
            will = self._held(topic, qos, body, retain)
        self.qname = f"mqtt-subscription-{client_id}"
        self.qkey = queue_key(self.ns, self.qname)
        self.tag = self.edge._core_tag(self.conn_id, "mqtt")
        try:
            await server.ensure_namespace(self.ns)
            res = await self.edge.cluster.call(self.qkey, "mq.MqttConnect", {
                "k": self.qkey, "ns": self.ns, "name": self.qname, "clean": c.clean, "tag": self.tag, "will": will,
                "max_queued": server.max_queued})
        except Exception as exc:
            log.warning("event=mqtt_session_failed client=%s error=%r", client_id, exc)
            return self._refuse(SERVER_UNAVAILABLE, "session store unavailable")
        if self.closed:           # gone meanwhile: the session was taken for nothing
            await self.edge.cluster.call(self.qkey, "mq.MqttDisconnect", {"k": self.qkey, "tag": self.tag})
            return
        for flt, q in res["subs"].items():
            self.subs[flt] = q
            self.trie.add(mqtt_filter_to_pattern(flt), flt)
        self.subs_changed()
        self.in2 = set(res["in2"])
        self.load_outbound(res["out2"], res["rel"])
        self.state = OPEN
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.write(C.encode_connack(res["present"], 0))
        self.resend_pubrels()
        self._arm_keepalive()
        consumer = await self.edge.consume(
            self.ns, self.qname, "mqtt", server.max_inflight, self.delivered, conn_id=self.conn_id,
            on_cancel=self._taken_over)
        if self.closed:               # gone while registering: the cleanup did not see this consumer
            await self.edge.cancel(consumer, requeue=True)
            return
        self.consumer = consumer
        if self.write_paused:
            await self.edge.block(self.consumer, True)

    def _refuse(self, code: int, why: str) -> None:
        log.info("event=mqtt_connect_refused code=%d peer=%s reason=%s", code, self.peer, why)
        self.write(C.encode_connack(False, code))
        self._close()

    def _connect_timeout(self) -> None:
        self._timer = None
        if self.state != OPEN and not self.closed:
            log.info("event=mqtt_connect_timeout peer=%s", self.peer)
            self._close()

    def _taken_over(self) -> None:
        """The session's consumer was cancelled: a new connection with this client id
        (or the session queue was deleted)."""
        self.consumer = None
        if not self.closed:
            log.info("event=mqtt_session_taken_over client=%s", self.client_id)
            self._close()

    # -- keepalive (one handle, re-armed lazily) ---------------------------------------------
    def _arm_keepalive(self) -> None:
        if self.keepalive:
            due = self.last_recv + 1.5 * self.keepalive
            self._timer = asyncio.get_running_loop().call_later(max(due - time.monotonic(), 0.05), self._expiry)

    def _expiry(self) -> None:
        self._timer = None
        if self.closed:
            return
        if time.monotonic() >= self.last_recv + 1.5 * self.keepalive:      # [MQTT-3.1.2-24]
            log.info("event=mqtt_keepalive_expired client=%s keepalive=%ss", self.client_id, self.keepalive)
            self._close()
            return
        self._arm_keepalive()

    # -- close -----------------------------------------------------------------------------
    def _protocol_error(self, exc: MqttError) -> None:
        log.info("event=mqtt_protocol_error client=%s peer=%s error=%s", self.client_id, self.peer, exc.text)
        if exc.connack is not None and self.state in (AWAIT_CONNECT, CONNECTING):
            self.write(C.encode_connack(False, exc.connack))
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()

    async def _cleanup(self) -> None:
        """The consumer goes (its deliveries are requeued, DUP next time); a clean session ends."""
        edge = self.edge
        edge.flush()
        if self.consumer is not None:
            c, self.consumer = self.consumer, None
            try:
                await edge.cancel(c, requeue=True)
            except Exception as exc:
                log.info("event=mqtt_cancel_failed client=%s error=%r", self.client_id, exc)
        self.flush_settles()
        await edge.cluster.call(self.qkey, "mq.MqttDisconnect", {"k": self.qkey, "tag": self.tag,
                                                                 "will": not self.graceful})

    # gateway drain (SIGTERM)
    def drain(self) -> None:
        self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def idle(self) -> bool:
        return True

    # -- PUBLISH in ------------------------------------------------------------------------------
    def _publish(self, flags: int, body: bytes) -> None:
        topic, pid, qos, payload = C.decode_publish(flags, body)
        retain = bool(flags & 1)
        if qos == 2:
            self._publish2(topic, pid, payload, retain)
            return
        if qos == 0:
            if self.may_publish:
                self._route(topic, 0, retain, payload, None)
            return
        rec = [bytes((0x40, 2, pid >> 8, pid & 0xFF)), 1]          # PUBACK
        self.acks.append(rec)
        if self.may_publish:
            self._route(topic, 1, retain, payload, rec)
        rec[1] -= 1
        if rec[1] == 0:
            self._emit_acks()

    def _route(self, topic: str, qos: int, retain: bool, body: bytes, rec) -> None:
        """Enqueue into every queue bound to amq.topic under the topic's routing key (and
        the retained store); rec[1] counts what is still to commit."""
        ns = self.ns
        rk = routing_key(topic)
        edge = self.edge
        routes = self.server.routes
        hit = routes.get((ns, rk))
        if hit is None or hit[0] != edge.version:       # the edge's tables changed since
            table = edge.tables.get(ns)
            dests = table.route(mqttmsg.EXCHANGE, rk) if table is not None else ()
            if len(routes) >= ROUTE_CACHE:
                routes.clear()
            hit = routes[(ns, rk)] = (edge.version, [queue_key(ns, d[1]) for d in dests if d[0] == QUEUE])
        if retain:
            self._retain(topic, qos, body, rec)
        qkeys = hit[1]
        if not qkeys:
            return
        payload = message_header(rk, qos) + body
        entry = [payload, len(body), "", VOLATILE if qos == 0 and not self.server.queue_qos0 else None]
        size = len(payload)
        enqueue = edge.enqueue
        cb = (lambda r, rec=rec, size=size: self._enqueued(r, rec, size))
        for qkey in qkeys:
            if rec is not None:
                rec[1] += 1
            self.inflight_bytes += size
            enqueue(qkey, entry, cb)
        if self.inflight_bytes > HIGH_WATER and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _enqueued(self, result, rec, size: int) -> None:
        self.inflight_bytes -= size
        if self.read_paused and self.inflight_bytes < LOW_WATER:
            self._resume_reading()
        if rec is None:
            return
        if result == "error":        # not acknowledged: the client sends it again after reconnecting
            self._close()
            return
        rec[1] -= 1
        if rec[1] == 0:
            self._emit_acks()

    def _resume_reading(self) -> None:
        self.read_paused = False
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()
            if self.framer.buffered and not self.busy:
                self._process()

    def _retain(self, topic: str, qos: int, body: bytes, rec) -> None:
        rkey = retained_key(self.ns)
        fut = self.edge.call_soon(rkey, "mq.MqttRetain", {"k": rkey, "ns": self.ns, "t": topic, "q": qos,
                                                         "b": body})
        if rec is not None:
            rec[1] += 1
        fut.add_done_callback(lambda f, rec=rec: self._committed(f, rec))

    def _committed(self, fut, rec) -> None:
        """A shard op this publish or acknowledgement waited for has committed (or failed)."""
        if fut.cancelled() or fut.exception() is not None or fut.result() is False:
            if not self.closed:
                log.info("event=mqtt_commit_failed client=%s error=%r", self.client_id,
                         None if fut.cancelled() else fut.exception())
                self._close()
            return
        if rec is not None:
            rec[1] -= 1
            if rec[1] == 0:
                self._emit_acks()

    def _emit_acks(self) -> None:
        """PUBACK/PUBREC/PUBCOMP in the order of the packets they answer [MQTT-4.6.0-2..4]."""
        q = self.acks
        while q and q[0][1] <= 0:
            self.write(q.popleft()[0])

    # -- QoS 2 in: held at the session until PUBREL ---------------------------------------------
    def _publish2(self, topic: str, pid: int, body: bytes, retain: bool) -> None:
        rec = [C.encode_ack(C.PUBREC, pid), 0]
        self.acks.append(rec)
        if pid in self.in2 or not self.may_publish:      # a re-sent PUBLISH: PUBREC again, nothing more
            self._emit_acks()
            return
        if len(self.in2) >= self.server.max_inflight:
            # Mosquitto's answer to a client over its quota: PUBREC, and the message is dropped
            log.info("event=mqtt_qos2_quota_exceeded client=%s pid=%d held=%d", self.client_id, pid, len(self.in2))
            self._emit_acks()
            return
        self.in2.add(pid)
        m = self._held(topic, 2, body, retain)
        rec[1] = 1
        fut = self.edge.call_soon(self.qkey, "mq.MqttStore2", {"k": self.qkey, "tag": self.tag, "pid": pid,
                                                               "m": m})
        fut.add_done_callback(lambda f: self._committed(f, rec))

    def _held(self, topic: str, qos: int, body: bytes, retain: bool) -> list:
        """A message the session's shard publishes later (at PUBREL; the will):
        [exchange key, routing key, entry, [retained key, ns, topic, qos, body] | None]."""
        rk = mqtt_to_key(topic)
        keep = [retained_key(self.ns), self.ns, topic, qos, body] if retain else None
        opts = VOLATILE if qos == 0 and not self.server.queue_qos0 else None
        return [exchange_key(self.ns, mqttmsg.EXCHANGE), rk, [mqttmsg.encode(rk, qos, body), len(body), "", opts],
                keep]

    def _pubrel(self, pid: int) -> None:
        rec = [C.encode_ack(C.PUBCOMP, pid), 1]
        self.acks.append(rec)
        fut = self.edge.call_soon(self.qkey, "mq.MqttRelease2", {"k": self.qkey, "tag": self.tag, "pid": pid})

        def done(f):
            self.in2.discard(pid)
            self._committed(f, rec)
        fut.add_done_callback(done)

    # -- SUBSCRIBE / UNSUBSCRIBE -------------------------------------------------------------------
    def _bind(self, flt: str, unbind: bool = False):
        xkey = exchange_key(self.ns, mqttmsg.EXCHANGE)
        return self.edge.cluster.call(xkey, "core.Unbind" if unbind else "core.Bind", {
            "k": xkey, "key": mqtt_filter_to_pattern(flt), "dest": [QUEUE, self.qname], "transient": self.clean})

    async def _subscribe(self, pid: int, topics: list) -> None:
        self.edge.flush()
        read_ok = Realm.allowed(self.user, self.vhost, 2, mqttmsg.EXCHANGE)
        codes = []
        todo = {}
        for flt, q in topics:
            if not read_ok or not C.valid_filter(flt):
                codes.append(SUBACK_FAILURE)
            else:
                codes.append(q)
                todo[flt] = q
        new = [f for f in todo if f not in self.subs]
        results = await asyncio.gather(*(self._bind(f) for f in new), return_exceptions=True)
        for f, r in zip(new, results):
            if isinstance(r, BaseException):
                log.warning("event=mqtt_bind_failed client=%s filter=%r error=%r", self.client_id, f, r)
                todo.pop(f)
                codes = [SUBACK_FAILURE if t[0] == f else c for t, c in zip(topics, codes)]
        for f, q in todo.items():
            if f not in self.subs:
                self.trie.add(mqtt_filter_to_pattern(f), f)
            self.subs[f] = q          # a repeated filter replaces the QoS [MQTT-3.8.4-3]
        self.subs_changed()
        if todo:
            await self.edge.cluster.call(self.qkey, "mq.MqttSubs", {"k": self.qkey, "tag": self.tag, "set": todo})
        self.write(C.encode_suback(pid, codes))
        if todo:
            await self._send_retained(todo)

    async def _send_retained(self, granted: dict) -> None:
        """Retained messages matching the new subscriptions go into the session's queue,
        marked to be delivered once, with RETAIN set [MQTT-3.3.1-6]."""
        filters = list(granted)
        rkey = retained_key(self.ns)
        try:
            found = await self.edge.cluster.call(rkey, "mq.MqttRetained", {"k": rkey, "ns": self.ns,
                                                                           "filters": filters})
        except Exception as exc:
            log.warning("event=mqtt_retained_failed client=%s error=%r", self.client_id, exc)
            return
        for i, topic, q, body in found:
            body = bytes(body)
            qos = min(q, granted[filters[i]])
            entry = [mqttmsg.encode(mqtt_to_key(topic), qos, body, retained=True), len(body), "", None]
            self.edge.enqueue(self.qkey, entry, _ignore)

    async def _unsubscribe(self, pid: int, filters: list) -> None:
        self.edge.flush()
        gone = [f for f in dict.fromkeys(filters) if f in self.subs]
        for f in gone:
            del self.subs[f]
            self.trie.remove(mqtt_filter_to_pattern(f), f)
        self.subs_changed()
        if gone:
            await asyncio.gather(*(self._bind(f, unbind=True) for f in gone))
            await self.edge.cluster.call(self.qkey, "mq.MqttSubs", {"k": self.qkey, "tag": self.tag,
                                                                    "remove": gone})
        self.write(C.encode_unsuback(pid))


def _ignore(_result) -> None:
    pass
