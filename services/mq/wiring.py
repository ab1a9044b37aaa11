"""Process-wide wiring of Amazon MQ, run in every worker at start (registry
``process_hook``): AMQP dead letters carry RabbitMQ's x-death header, so the
routing core needs the "amqp" dead-letter codec in every shard even before
any MQ operation has built the MQ shard half (shard halves load lazily)."""

from __future__ import annotations

from broker.runtime.routing import register_dead_letter_codec


def _dead_letter(*args):
    # AMQP's message codec (pamqp) is imported by the first AMQP dead letter, not at start
    from services.mq.amqpmsg import dead_letter
    return dead_letter(*args)


def install(host) -> None:
    register_dead_letter_codec("amqp", _dead_letter)
