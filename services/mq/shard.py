"""Amazon MQ shard half: brokers, users and configurations (one partition each)."""

from __future__ import annotations

from broker.runtime.routing import register_dead_letter_codec
from services.mq import amqpmsg

# AMQP dead letters carry RabbitMQ's x-death header (the routing core calls this)
register_dead_letter_codec("amqp", amqpmsg.dead_letter)


class MqShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store

    def op_AuthInfo(self, a):
        return None
