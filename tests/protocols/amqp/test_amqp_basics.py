"""AMQP 0-9-1 with pika's blocking adapter: declarations, publish, get,
consume, acks, properties, routing, confirms and RabbitMQ's errors."""

from __future__ import annotations

import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from tests.helpers.brokerproc import wait_for


def _drain(ch, queue, n, timeout=10.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = ch.basic_get(queue, auto_ack=True)
        if m[0] is None:
            time.sleep(0.02)
            continue
        out.append(m)
    return out


def test_every_basic_property_round_trips(channel, unique_name):
    q = channel.queue_declare(unique_name).method.queue
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="gzip",
        headers={"s": "x", "i": 7, "big": 2**40, "b": True, "l": [1, "two"], "t": {"k": "v"},
                 "n": None},
        delivery_mode=2, priority=3, correlation_id="c-1", reply_to="replies", expiration="60000",
        message_id="m-1", timestamp=1700000000, type="kind", user_id="guest", app_id="app")
    channel.basic_publish("", q, b"body", props)
    method, got, body = _drain(channel, q, 1)[0]
    assert body == b"body"
    for name in ("content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
                 "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id"):
        assert getattr(got, name) == getattr(props, name), name
    assert method.exchange == "" and method.routing_key == q and method.redelivered is False


def test_server_named_queue_get_and_counts(channel):
    ok = channel.queue_declare("", exclusive=True)
    q = ok.method.queue
    assert q.startswith("amq.gen-")
    for i in range(3):
        channel.basic_publish("", q, b"m%d" % i)
    wait_for(lambda: channel.queue_declare(q, passive=True).method.message_count == 3, 10)
    m = channel.basic_get(q)
    assert m[2] == b"m0" and m[0].message_count == 2
    channel.basic_ack(m[0].delivery_tag)
    assert channel.queue_purge(q).method.message_count == 2
    assert channel.basic_get(q) == (None, None, None)


def test_large_body_is_split_across_frames(channel, unique_name):
    q = channel.queue_declare(unique_name).method.queue
    body = bytes(range(256)) * 4000            # ~1 MB, many frames of frame_max
    channel.basic_publish("", q, body)
    assert _drain(channel, q, 1)[0][2] == body


def test_consume_ack_nack_requeue_keeps_position_and_marks_redelivered(channel, unique_name):
    q = channel.queue_declare(unique_name).method.queue
    for i in range(4):
        channel.basic_publish("", q, b"%d" % i)
    wait_for(lambda: channel.queue_declare(q, passive=True).method.message_count == 4, 10)
    got = []

    def cb(ch, method, props, body):
        got.append((body, method.redelivered, method.delivery_tag))
        if len(got) == 4:
            ch.stop_consuming()
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(q, cb)
    channel.start_consuming()
    assert [g[0] for g in got] == [b"0", b"1", b"2", b"3"]
    # nack 1 and 2 (requeue), ack the rest: they come back first, in their original order
    channel.basic_nack(got[2][2], requeue=True)
    channel.basic_reject(got[1][2], requeue=True)
    channel.basic_ack(got[3][2], multiple=False)
    channel.basic_ack(got[0][2])
    again = []

    def cb2(ch, method, props, body):
        again.append((body, method.redelivered))
        ch.basic_ack(method.delivery_tag)
        if len(again) == 2:
            ch.stop_consuming()
    channel.start_consuming() if False else None
    channel.cancel()
    channel.basic_consume(q, cb2)
    channel.start_consuming()
    assert again == [(b"1", True), (b"2", True)]


def test_prefetch_limits_unacked_deliveries(connect, unique_name):
    ch = connect().channel()
    q = ch.queue_declare(unique_name).method.queue
    for i in range(10):
        ch.basic_publish("", q, b"%d" % i)
    ch.basic_qos(prefetch_count=3)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        ch.connection.process_data_events(time_limit=0.05)
    assert len(got) == 3
    ch.basic_ack(got[-1], multiple=True)
    wait_for(lambda: ch.connection.process_data_events(time_limit=0.05) or len(got) >= 6, 10)
    assert len(got) == 6


def test_mandatory_unroutable_is_returned(channel, unique_name):
    channel.exchange_declare(unique_name, "direct")
    returned = []
    channel.add_on_return_callback(lambda ch, method, props, body: returned.append((method, body)))
    channel.basic_publish(unique_name, "nowhere", b"lost", mandatory=True)
    wait_for(lambda: channel.connection.process_data_events(time_limit=0.05) or returned, 10)
    method, body = returned[0]
    assert (method.reply_code, method.reply_text, method.exchange, method.routing_key, body) == \
        (312, "NO_ROUTE", unique_name, "nowhere", b"lost")


def test_confirms_ack_routed_and_unroutable_and_nack_on_reject_publish(channel, unique_name):
    channel.confirm_delivery()
    q = channel.queue_declare(unique_name, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}).method.queue
    channel.basic_publish("", q, b"fits")
    channel.basic_publish("", "no-such-queue-" + unique_name, b"unroutable")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"refused")
    assert channel.queue_declare(q, passive=True).method.message_count == 1


def test_exchange_types_e2e_bindings_and_alternate_exchange(channel, unique_name):
    n = unique_name
    channel.exchange_declare(n + "-topic", "topic")
    channel.exchange_declare(n + "-fan", "fanout")
    channel.exchange_declare(n + "-hdr", "headers")
    channel.exchange_declare(n + "-alt", "fanout")
    channel.exchange_declare(n + "-main", "direct", arguments={"alternate-exchange": n + "-alt"})
    qs = {k: channel.queue_declare(f"{n}-{k}").method.queue for k in ("t", "f", "h", "alt")}
    channel.queue_bind(qs["t"], n + "-topic", "a.*.c")
    channel.queue_bind(qs["f"], n + "-fan")
    channel.queue_bind(qs["h"], n + "-hdr", arguments={"x-match": "all", "k": "v"})
    channel.queue_bind(qs["alt"], n + "-alt")
    channel.exchange_bind(n + "-fan", n + "-topic", "#")          # topic -> fanout
    channel.basic_publish(n + "-topic", "a.b.c", b"1")
    channel.basic_publish(n + "-topic", "x.y", b"2")
    channel.basic_publish(n + "-hdr", "", b"3", pika.BasicProperties(headers={"k": "v"}))
    channel.basic_publish(n + "-hdr", "", b"4", pika.BasicProperties(headers={"k": "w"}))
    channel.basic_publish(n + "-main", "unbound", b"5")
    assert [m[2] for m in _drain(channel, qs["t"], 1)] == [b"1"]
    assert sorted(m[2] for m in _drain(channel, qs["f"], 2)) == [b"1", b"2"]
    assert [m[2] for m in _drain(channel, qs["h"], 1)] == [b"3"]
    assert [m[2] for m in _drain(channel, qs["alt"], 1)] == [b"5"]
    channel.exchange_unbind(n + "-fan", n + "-topic", "#")
    channel.basic_publish(n + "-topic", "x.y", b"6")
    time.sleep(0.2)
    assert channel.queue_declare(qs["f"], passive=True).method.message_count == 0


def test_rabbitmq_errors_word_for_word(connect, unique_name):
    conn = connect()
    cases = [
        (lambda ch: ch.queue_declare("missing-" + unique_name, passive=True),
         404, f"NOT_FOUND - no queue 'missing-{unique_name}' in vhost '/'"),
        (lambda ch: ch.exchange_declare("missing-" + unique_name, passive=True),
         404, f"NOT_FOUND - no exchange 'missing-{unique_name}' in vhost '/'"),
        (lambda ch: ch.queue_declare("amq.mine"), 403, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved "
                                                       "prefix 'amq.*'"),
        (lambda ch: ch.queue_bind(unique_name, ""), 403,
         "ACCESS_REFUSED - operation not permitted on the default exchange"),
    ]
    conn.channel().queue_declare(unique_name, durable=False)
    for fn, code, text in cases:
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as exc:
            fn(ch)
        assert (exc.value.reply_code, exc.value.reply_text) == (code, text)
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(unique_name, durable=True)
    assert exc.value.reply_text == (f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{unique_name}' "
                                    "in vhost '/': received 'true' but current is 'false'")
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(unique_name, arguments={"x-message-ttl": 1000})
    assert exc.value.reply_text == (f"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue "
                                    f"'{unique_name}' in vhost '/': received the value '1000' of type "
                                    "'signedint' but current is none")
    ch = conn.channel()
    ch.exchange_declare(unique_name + "-x", "direct")
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.exchange_declare(unique_name + "-x", "fanout")
    assert exc.value.reply_text == (f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{unique_name}-x' "
                                    "in vhost '/': received 'fanout' but current is 'direct'")
    ch = conn.channel()
    ch.basic_publish("missing-" + unique_name, "k", b"x")
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(unique_name, passive=True)
    assert exc.value.reply_text == f"NOT_FOUND - no exchange 'missing-{unique_name}' in vhost '/'"
    ch = conn.channel()
    m = None
    ch.basic_publish("", unique_name, b"x")
    m = _drain(ch, unique_name, 1)
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.basic_ack(999)
        ch.queue_declare(unique_name, passive=True)
    assert (exc.value.reply_code, exc.value.reply_text) == (406, "PRECONDITION_FAILED - unknown delivery tag 999")
    assert m


def test_bad_login_and_unknown_vhost(server):
    from tests.protocols.amqp.conftest import amqp_port
    params = pika.ConnectionParameters("127.0.0.1", amqp_port(server), credentials=pika.PlainCredentials("guest",
                                                                                                          "wrong"))
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as exc:
        pika.BlockingConnection(params)
    assert "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN" in str(exc.value)
    params = pika.ConnectionParameters("127.0.0.1", amqp_port(server), virtual_host="nope")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as exc:
        pika.BlockingConnection(params)
    assert "(530) 'NOT_ALLOWED - vhost nope not found'" in str(exc.value)


def test_queue_delete_if_unused_if_empty(channel, unique_name):
    q = channel.queue_declare(unique_name).method.queue
    channel.basic_publish("", q, b"x")
    wait_for(lambda: channel.queue_declare(q, passive=True).method.message_count == 1, 10)
    with pytest.raises(ChannelClosedByBroker) as exc:
        channel.queue_delete(q, if_empty=True)
    assert exc.value.reply_text == f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty"
    ch = channel.connection.channel()
    ch.basic_consume(q, lambda *a: None)
    ch2 = channel.connection.channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch2.queue_delete(q, if_unused=True)
    assert exc.value.reply_text == f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use"
    ch3 = channel.connection.channel()
    assert ch3.queue_delete(q).method.message_count == 1
