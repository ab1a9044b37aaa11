"""The MQTT 3.1.1 listeners this package offers the runtime (a FRONTENDS module).

- ``mqtt`` (``listeners.mqtt_port``, 1883), ``mqtts`` (8883, TLS), ``mqtt_ws``
  (8083, WebSocket, subprotocol ``mqtt``, path ``/mqtt``) and ``mqtt_wss``
  (8084, WebSocket over TLS): the default broker, vhost ``/`` (or the
  ``vhost:user`` a client names), users from ``mq.users``;
- runtime listeners of protocols "mqtt" and "mqtt-ws" (opened by the MQ
  service for an ActiveMQ broker made with CreateBroker, ``args = {"broker":
  id}``): that broker's users and namespace.

One ``MqttServer`` per (gateway, broker) holds what its connections share.
"""

from __future__ import annotations

from broker.runtime.config import Key
from broker.runtime.plugins import ListenerSpec
from services.mq.realm import DEFAULT_BROKER, Realm


CONFIG_KEYS = (
    Key("listeners", "mqtt_port", int, 1883, "MQTT 3.1.1 port of the default broker."),
    Key("listeners", "mqtts_port", int, 8883, "MQTT 3.1.1 over TLS port of the default broker."),
    Key("listeners", "mqtt_ws_port", int, 8083, "MQTT over WebSocket (path /mqtt, subprotocol mqtt) port."),
    Key("listeners", "mqtt_wss_port", int, 8084, "MQTT over secure WebSocket port."),
    Key("mqtt", "max_inflight_messages", int, 20,
        "QoS 1/2 deliveries a client may have unacknowledged before the broker holds the next ones, and "
        "inbound QoS 2 messages awaiting PUBREL (a new one beyond it gets PUBREC and is dropped); 0: 65535 "
        "(Mosquitto's max_inflight_messages)."),
    Key("mqtt", "max_queued_messages", int, 1000,
        "QoS 1/2 messages a session queues beyond those in flight (offline, or a slow client); newer ones are "
        "dropped for that session; 0: no maximum (Mosquitto's max_queued_messages)."),
    Key("mqtt", "queue_qos0_messages", bool, False,
        "Queue QoS 0 messages for an offline persistent session too (Mosquitto's queue_qos0_messages)."),
    Key("mqtt", "max_packet_size", int, 268435455, "Largest MQTT packet (bytes) accepted; larger ones close "
        "the connection."),
    Key("mqtt", "allow_anonymous", bool, True,
        "Default broker: a CONNECT without a user name logs in as the first mq.users user (guest), as "
        "RabbitMQ's mqtt.allow_anonymous; brokers made with CreateBroker always need a user."),
)


class MqttServer:
    def __init__(self, gateway, broker: str, realm: Realm):
        cfg = gateway.config
        self.gateway = gateway
        self.edge = gateway.edge
        self.broker = broker
        self.broker_is_default = broker == DEFAULT_BROKER
        self.realm = realm
        self.vhost = "/"
        inflight = int(cfg.get("mqtt.max_inflight_messages", 20))
        self.max_inflight = 65535 if inflight <= 0 else min(inflight, 65535)
        queued = int(cfg.get("mqtt.max_queued_messages", 1000))
        self.max_queued = queued if queued > 0 else None
        self.queue_qos0 = bool(cfg.get("mqtt.queue_qos0_messages", False))
        self.max_packet_size = int(cfg.get("mqtt.max_packet_size", 268435455))
        self.allow_anonymous = bool(cfg.get("mqtt.allow_anonymous", True))
        self.connections: set = set()
        self.routes: dict = {}            # publish route cache (protocols/mqtt/connection.py _route)
        self._ready_ns: set = set()

    async def anonymous(self, peer):
        """The user an anonymous CONNECT logs in as (None: refused)."""
        if not (self.broker_is_default and self.allow_anonymous):
            return None
        users = self.realm.default_users
        if not users:
            return None
        user = next(iter(users.values()))
        from services.mq.realm import is_loopback
        if user.loopback_only and not is_loopback(peer):
            return None
        return user

    async def ensure_namespace(self, ns: str) -> None:
        """amq.topic (and the other amq.* exchanges, as an AMQP vhost has) exist."""
        if ns in self._ready_ns:
            return
        from protocols.amqp.listener import server_for
        await server_for(self.gateway, self.broker).ensure_vhost(ns)
        self._ready_ns.add(ns)

    def factory(self, websocket: bool = False):
        if websocket:
            from protocols.mqtt.websocket import WsMqttConnection as cls
        else:
            from protocols.mqtt.connection import MqttConnection as cls

        def make():
            conn = cls(self)
            self.gateway.connections.add(conn)
            return conn
        return make


def server_for(gateway, broker: str) -> MqttServer:
    servers = gateway.mqtt_servers
    s = servers.get(broker)
    if s is None:
        realm = getattr(gateway, "mq_realm", None) or Realm(gateway)
        s = servers[broker] = MqttServer(gateway, broker, realm)
    return s


def _factory(websocket: bool):
    def make(gateway, ssl_ctx):
        return server_for(gateway, DEFAULT_BROKER).factory(websocket)
    return make


def _runtime(websocket: bool):
    def make(gateway, ssl_ctx, args):
        return server_for(gateway, args.get("broker", DEFAULT_BROKER)).factory(websocket)
    return make


PROTOCOLS = {"mqtt": _runtime(False), "mqtt-ws": _runtime(True)}


def listeners() -> list[ListenerSpec]:
    return [
        ListenerSpec("mqtt", "listeners.mqtt_port", "mqtt", "never", _factory(False)),
        ListenerSpec("mqtts", "listeners.mqtts_port", "mqtts", "always", _factory(False)),
        ListenerSpec("mqtt_ws", "listeners.mqtt_ws_port", "ws", "never", _factory(True)),
        ListenerSpec("mqtt_wss", "listeners.mqtt_wss_port", "wss", "always", _factory(True)),
    ]


def gateway_setup(gateway) -> None:
    gateway.mqtt_servers = {}
