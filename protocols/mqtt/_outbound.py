"""Deliveries to an MQTT client (mixed into MqttConnection).

The session's queue pushes messages with credit (``mqtt.max_inflight``
unacknowledged at most; the client's slow socket blocks the consumer at the
shard), so the gateway never buffers without bound. Each message becomes one
PUBLISH per matching subscription, as Mosquitto does, at QoS min(publish,
subscription); the queue's message is acknowledged once every copy is
(PUBACK, PUBREC; QoS 0 copies at once). Messages wait in ``held``, in queue
order, while the client has ``max_inflight`` QoS 1/2 copies outstanding.

QoS 2 copies get packet ids recorded at the session before the PUBLISH is
written (``mq.MqttOut2``), and a PUBREC moves its id to "released" in the
same commit as the message's ack (``mq.MqttSettle``) before the PUBREL goes
out: after a reconnect the client gets the same ids with DUP, or a PUBREL,
never a PUBLISH again after a PUBREL [MQTT-4.3.3-1] [MQTT-4.4.0-1].
"""

from __future__ import annotations

import asyncio
from collections import deque

from protocols.mqtt import _codec as C
from services.mq import mqttmsg
from broker.core.topic import key_to_mqtt

WAIT = object()
HEADER_CACHE = 1024


class _Out:
    """One queue message on its way to the client: copies still to be acknowledged."""
    __slots__ = ("seq", "left", "recorded", "rel")

    def __init__(self, seq: int, left: int, recorded: bool):
        self.seq, self.left, self.recorded = seq, left, recorded
        self.rel: list = []


class OutboundMixin:
    def __init__(self):
        self.consumer = None
        self.held: deque = deque()          # [seq, payload, redelivered, prepared] in queue order
        self.outs: dict[int, tuple] = {}    # packet id -> (_Out, qos) awaiting PUBACK / PUBREC
        self.rel: set = set()               # packet ids released (PUBREL sent), awaiting PUBCOMP
        self.reserved: set = set()          # ids recorded by an earlier connection, not yet redelivered
        self.out2: dict[int, list] = {}     # seq -> [[pid, qos]...] recorded at the session
        self.inflight = 0
        self.next_pid = 1
        self.recording = False
        self.write_paused = False
        self._comp: list = []
        # stored-message header -> (topic bytes, retained, copies' QoS); cleared when the subscriptions change
        self._headers: dict[bytes, tuple] = {}

    def subs_changed(self) -> None:
        self._headers.clear()

    def load_outbound(self, out2: dict, rel: list) -> None:
        self.out2 = {int(s): pids for s, pids in out2.items()}
        self.reserved = {p for pids in self.out2.values() for p, _q in pids}
        self.rel = set(rel)
        self.inflight = len(self.rel)

    def resend_pubrels(self) -> None:
        for pid in sorted(self.rel):
            self.write(C.encode_ack(C.PUBREL, pid))

    # -- deliveries from the session queue ---------------------------------------------
    def delivered(self, key, seq, payload, redelivered, _msg_id) -> None:
        if self.closed:
            self.edge.settle(key, seq, True)
            return
        item = [seq, payload, redelivered, None]
        if self.held or self.recording or self._try_send(item) is WAIT:
            self.held.append(item)

    def _pump(self) -> None:
        held = self.held
        while held and not self.recording and not self.closed:
            if self._try_send(held[0]) is WAIT:
                break
            held.popleft()

    def _header(self, hdr: bytes, payload: bytes) -> tuple:
        rk, qos, retained, _body = mqttmsg.decode(payload)
        if retained:
            qs = (qos,)
        else:
            subs = self.subs
            qs = tuple(min(qos, subs[f]) for f in self.trie.match(rk))
        if len(self._headers) >= HEADER_CACHE:
            self._headers.clear()
        info = self._headers[hdr] = (C.encode_topic(key_to_mqtt(rk)), retained, qs)
        return info

    def _prepare(self, seq: int, payload: bytes):
        """[topic bytes, body, retain flag, [[pid, qos]...], recorded]."""
        # the header (exchange, routing key, properties: services/mq/amqpmsg.py) decides all but the body
        n = payload[0]
        p = 2 + n + payload[1 + n]
        p += 4 + int.from_bytes(payload[p:p + 4], "big")
        hdr = payload[:p]
        info = self._headers.get(hdr)
        if info is None:
            info = self._header(hdr, payload)
        topic_b, retained, qs = info
        recorded = self.out2.get(seq)
        if recorded is not None:
            return [topic_b, payload[p:], retained, [[i, q] for i, q in recorded if i not in self.rel], True]
        return [topic_b, payload[p:], retained, [[0, q] for q in qs], False]

    def _try_send(self, item):
        seq, payload, redelivered, prep = item
        if prep is None:
            prep = item[3] = self._prepare(seq, payload)
        topic_b, body, retain, copies, recorded = prep
        if not copies:
            if recorded:
                self._settle(_Out(seq, 0, True))
            else:
                self.edge.settle(self.qkey, seq)
            return None
        if not recorded:
            need = 0                  # copies needing a packet id (QoS 1/2); none has one yet
            for c in copies:
                if c[1]:
                    need += 1
            if not need:              # QoS 0 only: written and acknowledged to the queue at once
                write = self.write
                for _c in copies:
                    write(C.encode_publish(topic_b, body, 0, 0, retain, False))
                self.edge.settle(self.qkey, seq)
                return None
            if self.inflight and self.inflight + need > self.server.max_inflight:
                return WAIT
            two = False
            for c in copies:
                if c[1]:
                    c[0] = self._pid()
                    self.inflight += 1
                    two = two or c[1] == 2
            if two:              # QoS 2: the ids are recorded before the PUBLISH is written
                pids = [c for c in copies if c[1]]
                self.out2[seq] = pids
                prep[4] = True
                self.recording = True
                fut = self.edge.call_soon(self.qkey, "mq.MqttOut2", {"k": self.qkey, "tag": self.tag, "seq": seq,
                                                                    "pids": pids})
                fut.add_done_callback(self._recorded)
                return WAIT
        else:
            for p, q in copies:
                if q and p in self.reserved:
                    self.reserved.discard(p)
                    self.inflight += 1
        out = _Out(seq, 0, prep[4])
        write = self.write
        outs = self.outs
        for pid, q in copies:
            if q:
                out.left += 1
                outs[pid] = (out, q)
            write(C.encode_publish(topic_b, body, q, pid, retain, redelivered and q > 0))
        if not out.left:
            if out.recorded:
                self._settle(out)
            else:
                self.edge.settle(self.qkey, seq)
        return None

    def _recorded(self, fut) -> None:
        self.recording = False
        if fut.cancelled() or fut.exception() is not None or fut.result() is False:
            self._close()
            return
        self._pump()

    def _pid(self) -> int:
        outs, rel, reserved = self.outs, self.rel, self.reserved
        p = self.next_pid
        while p in outs or p in rel or p in reserved:
            p = p % 65535 + 1
        self.next_pid = p % 65535 + 1
        return p

    # -- acknowledgements from the client -------------------------------------------------
    def on_puback(self, pid: int) -> None:
        entry = self.outs.get(pid)
        if entry is None or entry[1] != 1:
            return                           # not ours (or a QoS 2 id): ignored
        del self.outs[pid]
        out = entry[0]
        self.inflight -= 1
        out.left -= 1
        if out.left == 0:
            if out.recorded:
                self._settle(out)
            else:
                self.edge.settle(self.qkey, out.seq)
        if self.held:
            self._pump()

    def on_pubrec(self, pid: int) -> None:
        entry = self.outs.get(pid)
        if entry is None or entry[1] != 2:
            if pid in self.rel:
                self.write(C.encode_ack(C.PUBREL, pid))
            return
        del self.outs[pid]
        out = entry[0]
        out.left -= 1
        out.rel.append(pid)
        if out.left == 0:
            self._settle(out, then_release=True)
        else:
            self._settle(out, then_release=True, ack=False)

    def _settle(self, out: _Out, then_release: bool = False, ack: bool = True) -> None:
        rel, out.rel = out.rel, []
        args = {"k": self.qkey, "tag": self.tag, "seq": out.seq, "ack": ack, "rel": rel}
        fut = self.edge.call_soon(self.qkey, "mq.MqttSettle", args)

        def done(f):
            if f.cancelled() or f.exception() is not None or f.result() is False:
                self._close()
                return
            if ack:
                self.out2.pop(out.seq, None)
            for pid in rel:
                self.rel.add(pid)
                if then_release and not self.closed:
                    self.write(C.encode_ack(C.PUBREL, pid))
        fut.add_done_callback(done)

    def on_pubcomp(self, pid: int) -> None:
        if pid not in self.rel:
            return
        self.rel.discard(pid)
        self.inflight -= 1
        if not self._comp:
            asyncio.get_running_loop().call_soon(self.flush_settles)
        self._comp.append(pid)
        if self.held:
            self._pump()

    def flush_settles(self) -> None:
        comp, self._comp = self._comp, []
        if comp:
            fut = self.edge.call_soon(self.qkey, "mq.MqttSettle", {"k": self.qkey, "tag": self.tag, "rel": [],
                                                                   "comp": comp})
            fut.add_done_callback(_ignore)


def _ignore(fut) -> None:
    if not fut.cancelled():
        fut.exception()
