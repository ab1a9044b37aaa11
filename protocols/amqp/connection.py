"""One AMQP 0-9-1 client connection: the asyncio.Protocol adapter and the
connection-level state machine (handshake, tune, heartbeats, close).

Bytes go to the sans-IO framer; frames to the connection (channel 0) or a
channel. Output of one loop tick is written with one ``transport.write``.
Backpressure both ways: reading pauses while this connection's publishes in
flight to shards exceed a high-water mark (and while a resource alarm blocks
publishers); when the client's socket cannot take more, the connection's
consumers are blocked at their shards (edge.block), so the gateway never
buffers deliveries without bound.

Handshake (server side), one transition table::

    AWAIT_HEADER --protocol header--> AWAIT_START_OK (connection.start sent)
    AWAIT_START_OK --start-ok (auth ok)--> AWAIT_TUNE_OK (connection.tune sent)
    AWAIT_TUNE_OK --tune-ok--> AWAIT_OPEN
    AWAIT_OPEN --open (vhost ok)--> OPEN
    any --close--> CLOSED; a hard error sends connection.close -> CLOSING
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import time

from pamqp import commands as C
from pamqp import decode as pdecode

from protocols.amqp import _wire
from protocols.amqp._framer import HEARTBEAT, METHOD, NEED_DATA, PROTOCOL_HEADER, AMQP_HEADER, Framer
from protocols.amqp.channel import CLOSING as CH_CLOSING
from protocols.amqp.channel import Channel
from protocols.amqp.errors import (
    ACCESS_REFUSED, CHANNEL_ERROR, COMMAND_INVALID, NOT_ALLOWED, SYNTAX_ERROR, UNEXPECTED_FRAME, AmqpError,
)
from services.mq.realm import namespace

log = logging.getLogger("broker.amqp")

AWAIT_HEADER, AWAIT_START_OK, AWAIT_TUNE_OK, AWAIT_OPEN, OPEN, CLOSING, CLOSED = range(7)
EXPECTED = {AWAIT_START_OK: "Connection.StartOk", AWAIT_TUNE_OK: "Connection.TuneOk",
            AWAIT_OPEN: "Connection.Open"}
HIGH_WATER = 8 * 1024 * 1024       # bytes of publishes in flight to shards before reading pauses
LOW_WATER = 2 * 1024 * 1024
CLOSE_TIMEOUT = 3.0


class AmqpConnection(asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.edge = server.edge
        self.transport = None
        self.framer = Framer(server.frame_max)
        self.out: list = []
        self._flush_scheduled = False
        self.state = AWAIT_HEADER
        self.channels: dict[int, Channel] = {}
        self.user = None
        self.restricted = False          # user has regex permissions (checked per publish)
        self.vhost = "/"
        self.ns = ""
        self.conn_id = self.edge.new_connection_id()
        self.owner = f"{self.edge.owner}/{self.conn_id}"
        self.client_caps: dict = {}
        self.mechanism = "PLAIN"
        self.frame_max = server.frame_max
        self.channel_max = server.channel_max
        self.heartbeat = 0
        self.peer = None
        self.inflight = 0
        self.pause_reasons: set = set()
        self.write_paused = False
        self.exclusive_queues: set = set()
        self.owed: set = set()           # link-credit consumers with credit to hand back
        self.default_queue_type = "classic"
        self.consumer_timeout = server.consumer_timeout
        self._ct_handle = None
        self.last_recv = self.last_send = time.monotonic()
        self._hb_handle = None
        self._close_handle = None
        self.blocked_sent = False
        self.published = False
        self.holding = False             # an async handshake step runs: later frames wait in the framer
        self.closed = False
        self.tasks: set = set()

    # -- asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else None
        self.server.connections.add(self)
        self._close_handle = asyncio.get_running_loop().call_later(10.0, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        self.last_recv = time.monotonic()
        framer = self.framer
        framer.receive_data(data)
        try:
            while not self.closed:
                if self.holding or (self.pause_reasons and self.state == OPEN):
                    break
                ev = framer.next_frame()
                if ev is NEED_DATA:
                    break
                kind, ch, payload = ev
                if kind == METHOD and ch == 0:
                    self._connection_method(payload)
                elif kind == HEARTBEAT:
                    pass
                elif kind == PROTOCOL_HEADER:
                    self._greeting(payload)
                elif self.state != OPEN:
                    if self.state != CLOSING:
                        raise AmqpError(COMMAND_INVALID, "connection not open")
                else:
                    self._channel_frame(kind, ch, payload)
        except AmqpError as exc:
            self.error(exc, 0)
        self.flush_soon()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.state = CLOSED
        self.server.connections.discard(self)
        self.server.gateway.connections.discard(self)
        for h in (self._hb_handle, self._close_handle, self._ct_handle):
            if h is not None:
                h.cancel()
        self.spawn(self._cleanup())

    def pause_writing(self) -> None:
        self.write_paused = True
        self._block_consumers(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._block_consumers(False)
        self._grant()

    def _grant(self) -> None:
        """Hand link credit back for deliveries written while the client keeps up."""
        owed, self.owed = self.owed, set()
        for c in owed:
            if c.owed and c.edge is not None and not self.closed:
                self.edge.call_cb(c.key, "core.Credit", {"k": c.key, "tag": c.edge.core_tag, "n": c.owed}, _ignore)
            c.owed = 0

    def _block_consumers(self, blocked: bool) -> None:
        for ch in self.channels.values():
            for c in ch.consumers.values():
                if c.edge is not None and (ch.flow or blocked):
                    self.spawn(self.edge.block(c.edge, blocked))

    # -- output ---------------------------------------------------------------------------
    def send_method(self, channel: int, m) -> None:
        self.out.append(_wire.method(channel, m))
        self.flush_soon()

    def flush_soon(self) -> None:
        if not self._flush_scheduled and self.out:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self.out and self.transport is not None and not self.transport.is_closing():
            data = b"".join(self.out)
            self.out = []
            self.transport.write(data)
            self.last_send = time.monotonic()
            if self.owed and not self.write_paused:
                self._grant()
        else:
            self.out = []

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if getattr(exc, "code", None) not in ("NotFound",):
                log.info("event=amqp_background_failed error=%r", exc)

    # -- handshake ---------------------------------------------------------------------------
    def _greeting(self, header: bytes) -> None:
        if header != AMQP_HEADER:
            self.transport.write(AMQP_HEADER)
            self.closed = True
            self.transport.close()
            return
        self.state = AWAIT_START_OK
        self.send_method(0, C.Connection.Start(
            version_major=0, version_minor=9, server_properties=self.server.server_properties,
            mechanisms="PLAIN AMQPLAIN", locales="en_US"))

    def _connection_method(self, m) -> None:
        name = m.name
        if self.state == CLOSING:
            if name == "Connection.CloseOk":
                self._close_transport()
            elif name == "Connection.Close":
                self.send_method(0, C.Connection.CloseOk())
                self._close_transport()
            return
        want = EXPECTED.get(self.state)
        if name == "Connection.Close":
            self._client_close()
            return
        if want is not None and name != want:
            raise AmqpError(COMMAND_INVALID, f"expected '{want.lower()}', got '{name.lower()}'")
        if name == "Connection.StartOk":
            self._start_ok(m)
        elif name == "Connection.TuneOk":
            self._tune_ok(m)
        elif name == "Connection.Open":
            self._hold(self._open(m))
        elif name == "Connection.CloseOk":
            self._close_transport()
        elif name in ("Connection.Blocked", "Connection.Unblocked", "Connection.UpdateSecret"):
            if name == "Connection.UpdateSecret":
                self.send_method(0, C.Connection.UpdateSecretOk())
        else:
            raise AmqpError(COMMAND_INVALID, f"unexpected method {name} on channel 0")

    def _start_ok(self, m) -> None:
        props = m.client_properties or {}
        self.client_caps = dict(props.get("capabilities") or {})
        mech = (m.mechanism or "").upper()
        username = password = None
        resp = m.response
        if isinstance(resp, str):
            resp = resp.encode("latin-1", errors="replace")
        if mech == "PLAIN":
            parts = bytes(resp or b"").split(b"\x00")
            if len(parts) == 3:
                username, password = parts[1].decode(errors="replace"), parts[2].decode(errors="replace")
        elif mech == "AMQPLAIN":
            try:
                raw = bytes(resp or b"")
                _, table = pdecode.field_table(len(raw).to_bytes(4, "big") + raw)
                username, password = str(table.get("LOGIN", "")), str(table.get("PASSWORD", ""))
            except ValueError:
                pass
        else:
            raise AmqpError(ACCESS_REFUSED, f"ACCESS_REFUSED - {mech} login refused: unknown authentication "
                            f"mechanism")
        self.mechanism = mech
        if username is None:
            raise AmqpError(SYNTAX_ERROR, f"invalid {mech} response")
        self.state = AWAIT_TUNE_OK
        self._hold(self._authenticate(username, password))

    async def _authenticate(self, username, password) -> None:
        user = await self.server.realm.authenticate(self.server.broker, username, password, self.peer)
        if self.closed:
            return
        if user is None:
            log.info("event=amqp_login_refused user=%s peer=%s", username, self.peer)
            text = (f"ACCESS_REFUSED - Login was refused using authentication mechanism {self.mechanism}. "
                    "For details see the broker logfile.")
            if self.capability("authentication_failure_close"):
                self.error(AmqpError(ACCESS_REFUSED, text), 0)
            else:
                self._close_transport()
            self.flush()
            return
        self.user = user
        self.restricted = user.perms is not None
        settings = await self.server.settings()
        self.default_queue_type = settings.get("default_queue_type", "classic")
        self.consumer_timeout = settings.get("consumer_timeout", self.server.consumer_timeout)
        self.channel_max = settings.get("channel_max") or self.server.channel_max
        self.send_method(0, C.Connection.Tune(channel_max=self.channel_max, frame_max=self.server.frame_max,
                                              heartbeat=settings.get("heartbeat", self.server.heartbeat)))
        self.flush()

    def _tune_ok(self, m) -> None:
        if self.user is None:
            raise AmqpError(COMMAND_INVALID, "expected 'connection.start_ok'")
        fm = m.frame_max or self.server.frame_max
        if fm < 4096:
            raise AmqpError(NOT_ALLOWED, f"frame_max={fm} < 4096 min size")
        if fm > self.server.frame_max:
            raise AmqpError(NOT_ALLOWED, f"frame_max={fm} > {self.server.frame_max} max size")
        self.frame_max = fm
        self.framer.frame_max = fm
        cm = m.channel_max or self.channel_max
        self.channel_max = min(cm, self.channel_max)
        self.heartbeat = m.heartbeat
        self.state = AWAIT_OPEN
        if self.heartbeat:
            self._arm_heartbeat()

    async def _open(self, m) -> None:
        vhost = m.virtual_host or "/"
        if not await self.server.realm.vhost_exists(self.server.broker, vhost):
            self.error(AmqpError(NOT_ALLOWED, f"vhost {vhost} not found"), 0)
            return
        if self.user.permissions(vhost) is None:
            self.error(AmqpError(NOT_ALLOWED, f"access to vhost '{vhost}' refused for user '{self.user.name}'"), 0)
            return
        self.vhost = vhost
        self.ns = namespace(self.server.broker, vhost)
        try:
            await self.server.ensure_vhost(self.ns)
        except Exception as exc:
            log.warning("event=amqp_vhost_setup_failed vhost=%s error=%r", vhost, exc)
            self.error(AmqpError(541, "INTERNAL_ERROR - vhost is not available"), 0)
            return
        if self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None
        self.state = OPEN
        if self.consumer_timeout:
            self._arm_consumer_timeout()
        self.send_method(0, C.Connection.OpenOk())
        self.flush()

    def _hold(self, coro) -> None:
        """Run an async handshake step; frames the client pipelined behind it are
        processed, in order, once it is done."""
        self.holding = True

        async def step():
            try:
                await coro
            finally:
                self.holding = False
                if not self.closed and self.framer.buffered:
                    self.data_received(b"")
        self.spawn(step())

    def _handshake_timeout(self) -> None:
        self._close_handle = None
        if self.state != OPEN and not self.closed:
            log.info("event=amqp_handshake_timeout peer=%s", self.peer)
            self._close_transport()

    def capability(self, name: str) -> bool:
        return bool(self.client_caps.get(name))

    def _arm_consumer_timeout(self) -> None:
        every = min(max(self.consumer_timeout / 4000, 0.1), 15.0)
        self._ct_handle = asyncio.get_running_loop().call_later(every, self._consumer_timeout_check)

    def _consumer_timeout_check(self) -> None:
        if self.closed or self.state != OPEN:
            return
        now = time.monotonic()
        for ch in list(self.channels.values()):
            ch.check_timeout(now, self.consumer_timeout)
        self.flush_soon()
        self._arm_consumer_timeout()

    # -- heartbeats -------------------------------------------------------------------------
    def _arm_heartbeat(self) -> None:
        self._hb_handle = asyncio.get_running_loop().call_later(self.heartbeat / 2, self._heartbeat)

    def _heartbeat(self) -> None:
        if self.closed:
            return
        now = time.monotonic()
        if now - self.last_recv > 2 * self.heartbeat:
            log.info("event=amqp_missed_heartbeats peer=%s timeout=%ss", self.peer, self.heartbeat)
            self._close_transport()
            return
        if now - self.last_send >= self.heartbeat / 2 and not self.out:
            self.transport.write(_wire.HEARTBEAT)
            self.last_send = now
        self._arm_heartbeat()

    # -- channels ---------------------------------------------------------------------------
    def _channel_frame(self, kind, ch, payload) -> None:
        chan = self.channels.get(ch)
        if chan is None:
            if kind == METHOD and payload.name == "Channel.Open":
                if ch > self.channel_max or ch == 0:
                    raise AmqpError(NOT_ALLOWED, f"channel number {ch} exceeds the negotiated channel_max "
                                    f"{self.channel_max}")
                self.channels[ch] = Channel(self, ch)
                self.send_method(ch, C.Channel.OpenOk())
                return
            if kind == METHOD and payload.name == "Channel.CloseOk":
                return
            if kind == METHOD and payload.name == "Channel.Close":
                self.send_method(ch, C.Channel.CloseOk())
                return
            raise AmqpError(CHANNEL_ERROR, "expected 'channel.open'")
        if kind == METHOD and payload.name == "Basic.Publish":
            self.published = True
            if self.server.alarm and "alarm" not in self.pause_reasons:
                self.send_blocked(self.server.alarm)      # RabbitMQ blocks a publisher when it publishes
        chan.frame(kind, payload)

    def forget_channel(self, number: int) -> None:
        ch = self.channels.get(number)
        if ch is not None and ch.state == CH_CLOSING:
            del self.channels[number]

    # -- errors and close ---------------------------------------------------------------------
    def error(self, exc: AmqpError, channel: int) -> None:
        """Soft error: channel.close; hard error (or on channel 0): connection.close."""
        if self.closed or self.state == CLOSING:
            return
        if exc.hard or channel == 0:
            log.info("event=amqp_connection_error peer=%s code=%d text=%r", self.peer, exc.code, exc.text)
            self.state = CLOSING
            self.out.append(_wire.method(0, C.Connection.Close(reply_code=exc.code, reply_text=exc.text[:255],
                                                               class_id=exc.class_id, method_id=exc.method_id)))
            self.flush()
            self._close_handle = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._close_transport)
            self.spawn(self._cleanup())
            return
        ch = self.channels.get(channel)
        if ch is None or ch.state == CH_CLOSING:
            return
        ch.state = CH_CLOSING
        ch.pending.clear()
        self.out.append(_wire.method(channel, C.Channel.Close(reply_code=exc.code, reply_text=exc.text[:255],
                                                              class_id=exc.class_id, method_id=exc.method_id)))
        self.flush_soon()
        self.spawn(ch.cleanup())

    def _client_close(self) -> None:
        self.state = CLOSING

        async def close():
            await self._cleanup()
            if not self.closed:
                self.send_method(0, C.Connection.CloseOk())
                self.flush()
                self._close_transport()
        self.spawn(close())

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()

    async def _cleanup(self) -> None:
        """Consumers go (their deliveries are requeued), exclusive queues are deleted."""
        channels = list(self.channels.values())
        self.channels.clear()
        if channels:
            await asyncio.gather(*(ch.cleanup() for ch in channels), return_exceptions=True)
        queues, self.exclusive_queues = self.exclusive_queues, set()
        if queues:
            from broker.runtime.routing import queue_key
            await asyncio.gather(*(self.edge.cluster.call(queue_key(self.ns, q), "core.QueueDelete", {
                "k": queue_key(self.ns, q), "owner": self.owner}) for q in queues), return_exceptions=True)
        if self.inflight:
            self.inflight = 0

    # -- flow control ----------------------------------------------------------------------------
    def publish_started(self, n: int) -> None:
        self.inflight += n
        if self.inflight > HIGH_WATER and "inflight" not in self.pause_reasons:
            self._pause("inflight")

    def publish_done(self, n: int) -> None:
        self.inflight -= n
        if self.inflight < LOW_WATER and "inflight" in self.pause_reasons:
            self._resume("inflight")

    def _pause(self, reason: str) -> None:
        if not self.pause_reasons and self.transport is not None:
            try:
                self.transport.pause_reading()
            except RuntimeError:
                pass
        self.pause_reasons.add(reason)

    def _resume(self, reason: str) -> None:
        self.pause_reasons.discard(reason)
        if not self.pause_reasons and self.transport is not None and not self.closed:
            try:
                self.transport.resume_reading()
            except RuntimeError:
                pass
            if self.framer.buffered:
                self.data_received(b"")

    def hung_up(self) -> bool:
        """While its reading is paused the loop does not see a peer go away (a
        blocked publisher that disconnects would keep its memory, and the alarm,
        for ever): ask the socket whether the peer has closed."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None or self.closed:
            return False
        try:
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return False

    def send_blocked(self, reason: str | None) -> None:
        """A resource alarm started (reason) or cleared (None): tell the client and
        stop reading from a connection that publishes, as RabbitMQ does."""
        if reason:
            if not self.published:
                return               # blocked when it next publishes
            if self.capability("connection.blocked") and not self.blocked_sent:
                self.send_method(0, C.Connection.Blocked(reason=reason))
                self.blocked_sent = True
            self._pause("alarm")
        else:
            if self.blocked_sent:
                self.send_method(0, C.Connection.Unblocked())
                self.blocked_sent = False
            if "alarm" in self.pause_reasons:
                self._resume("alarm")
        self.flush_soon()

    # gateway drain (SIGTERM)
    def drain(self) -> None:
        if self.state == OPEN:
            self.error(AmqpError(320, "CONNECTION_FORCED - broker forced connection closure with reason "
                                      "'shutdown'"), 0)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def idle(self) -> bool:
        return True


def _ignore(_result, _exc) -> None:
    """A credit grant's outcome: a consumer or queue gone meanwhile has nothing to hand credit to."""


_ = (UNEXPECTED_FRAME,)
