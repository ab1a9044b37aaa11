"""Config keys of Amazon MQ: the default broker's users and vhosts, and the
port range of brokers made with CreateBroker."""

from __future__ import annotations

from broker.runtime.config import Key

KEYS = (
    Key("mq", "users", list, [],
        "Users of the default broker (AMQP/MQTT on the standard ports): list of {name, password, "
        "loopback_only, vhosts} (vhosts: {vhost: {configure, write, read}} regexes; absent: every vhost). "
        "Empty: guest/guest, from loopback only, as RabbitMQ."),
    Key("mq", "vhosts", list, [], "Virtual hosts of the default broker besides '/'."),
    Key("mq", "port_range", str, "",
        "Ports for the listeners of brokers made with CreateBroker, LOW-HIGH (empty: listeners.port_range)."),
)
