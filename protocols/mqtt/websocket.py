"""MQTT over WebSocket: the same connection, bytes carried in binary frames.

The handshake and framing are ``websockets``' sans-IO ``ServerProtocol``
(subprotocol ``mqtt``; MQTT clients use the path ``/mqtt``, any path is
served, as Mosquitto does). MQTT packets may span frames and a frame may hold
several packets [MQTT-6.0.0-2, -3]: the payload of every binary frame goes
to the MQTT framer as one byte stream; a text frame closes the connection
[MQTT-6.0.0-1]. Pings are answered by the WebSocket layer.
"""

from __future__ import annotations

import logging

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from protocols.mqtt.connection import MqttConnection

log = logging.getLogger("broker.mqtt")


def _select(protocol, offered):
    if "mqtt" in offered:
        return "mqtt"
    if "mqttv3.1" in offered:
        return "mqttv3.1"
    return None


class WsMqttConnection(MqttConnection):
    def __init__(self, server):
        super().__init__(server)
        self.ws = ServerProtocol(subprotocols=["mqtt", "mqttv3.1"], select_subprotocol=_select,
                                 max_size=server.max_packet_size + 16)
        self.ws_open = False

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        chunks = []
        for ev in ws.events_received():
            if isinstance(ev, Request):
                response = ws.accept(ev)
                ws.send_response(response)
                self.ws_open = response.status_code == 101
                if not self.ws_open:
                    log.info("event=mqtt_ws_handshake_refused peer=%s status=%d", self.peer, response.status_code)
            elif ev.opcode in (Opcode.BINARY, Opcode.CONT):
                chunks.append(ev.data)
            elif ev.opcode == Opcode.TEXT:
                ws.fail(1003, "MQTT needs binary frames")
        self._ws_out()
        if chunks:
            super().data_received(b"".join(chunks))

    def _ws_out(self) -> None:
        t = self.transport
        for data in self.ws.data_to_send():
            if t is None or t.is_closing():
                return
            if data:
                t.write(data)
            else:                      # the WebSocket layer ended the stream
                t.close()

    def send_bytes(self, data: bytes) -> None:
        if self.ws_open:
            self.ws.send_binary(data)
            self._ws_out()

    def _close(self) -> None:
        if self.ws_open and self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.ws_open = False
            try:
                self.ws.send_close(1000)
            except Exception:
                pass
            self._ws_out()
        super()._close()
