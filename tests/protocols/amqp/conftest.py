"""AMQP test helpers: pika connections to the session server's default broker."""

from __future__ import annotations

import pika
import pytest


def amqp_port(server) -> int:
    return int(server.endpoints["amqp"].rsplit(":", 1)[1])


@pytest.fixture
def connect(server):
    """connect(**params) -> pika.BlockingConnection to the default broker (closed after the test)."""
    opened = []

    def make(**kw):
        kw.setdefault("heartbeat", 0)
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port(server), **kw))
        opened.append(c)
        return c
    yield make
    for c in opened:
        try:
            if c.is_open:
                c.close()
        except Exception:
            pass


@pytest.fixture
def channel(connect):
    return connect().channel()
