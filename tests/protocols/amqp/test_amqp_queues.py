"""Queue arguments and ownership with pika: TTLs, dead-lettering with x-death,
max length, priorities, exclusive and auto-delete queues, x-expires, single
active consumer, quorum delivery limits, direct reply-to, transactions,
consumer cancel notification, basic.recover, channel.flow."""

from __future__ import annotations

import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from tests.helpers.brokerproc import wait_for


def _get(ch, queue, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ch.basic_get(queue, auto_ack=True)
        if m[0] is not None:
            return m
        time.sleep(0.02)
    raise AssertionError(f"nothing arrived on {queue}")


def _count(ch, queue) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def test_ttl_expiry_dead_letters_with_x_death(channel, unique_name):
    dlx, dlq, q = unique_name + "-dlx", unique_name + "-dlq", unique_name
    channel.exchange_declare(dlx, "fanout")
    channel.queue_declare(dlq)
    channel.queue_bind(dlq, dlx)
    channel.queue_declare(q, arguments={"x-message-ttl": 100, "x-dead-letter-exchange": dlx})
    channel.basic_publish("", q, b"old", pika.BasicProperties(headers={"keep": "me"}))
    method, props, body = _get(channel, dlq)
    assert body == b"old" and method.exchange == dlx and method.routing_key == q
    death = props.headers["x-death"][0]
    assert (death["count"], death["reason"], death["queue"], death["exchange"], death["routing-keys"]) == \
        (1, "expired", q, "", [q])
    assert props.headers["keep"] == "me"
    assert props.headers["x-first-death-reason"] == "expired"
    assert props.headers["x-first-death-queue"] == q


def test_per_message_expiration_and_reject_to_dlx_with_routing_key(channel, unique_name):
    dlx, dlq, q = unique_name + "-dlx", unique_name + "-dlq", unique_name
    channel.exchange_declare(dlx, "direct")
    channel.queue_declare(dlq)
    channel.queue_bind(dlq, dlx, "dead")
    channel.queue_declare(q, arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"})
    channel.basic_publish("", q, b"short", pika.BasicProperties(expiration="50"))
    method, props, body = _get(channel, dlq)
    assert body == b"short" and method.routing_key == "dead"
    assert props.headers["x-death"][0]["original-expiration"] == "50"
    assert props.expiration is None
    channel.basic_publish("", q, b"bad")
    m = _get_unacked(channel, q)
    channel.basic_reject(m[0].delivery_tag, requeue=False)
    method, props, body = _get(channel, dlq)
    assert body == b"bad" and props.headers["x-death"][0]["reason"] == "rejected"


def _get_unacked(ch, queue, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ch.basic_get(queue)
        if m[0] is not None:
            return m
        time.sleep(0.02)
    raise AssertionError(f"nothing arrived on {queue}")


def test_max_length_drop_head_dead_letters_maxlen_and_reject_publish_dlx(channel, unique_name):
    dlq = unique_name + "-dlq"
    channel.queue_declare(dlq)
    q = channel.queue_declare(unique_name, arguments={"x-max-length": 2, "x-dead-letter-exchange": "",
                                                      "x-dead-letter-routing-key": dlq}).method.queue
    for i in range(4):
        channel.basic_publish("", q, b"%d" % i)
    wait_for(lambda: _count(channel, dlq) == 2, 10)
    assert [_get(channel, q)[2] for _ in range(2)] == [b"2", b"3"]
    dead = [_get(channel, dlq) for _ in range(2)]
    assert [d[2] for d in dead] == [b"0", b"1"]
    assert dead[0][1].headers["x-death"][0]["reason"] == "maxlen"
    r = channel.queue_declare(unique_name + "-r", arguments={"x-max-length": 1, "x-overflow": "reject-publish-dlx",
                                                             "x-dead-letter-exchange": "",
                                                             "x-dead-letter-routing-key": dlq}).method.queue
    channel.confirm_delivery()
    channel.basic_publish("", r, b"in")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", r, b"over")
    assert _get(channel, dlq)[2] == b"over"


def test_priorities(channel, unique_name):
    q = channel.queue_declare(unique_name, arguments={"x-max-priority": 10}).method.queue
    for body, prio in ((b"low", 1), (b"none", None), (b"high", 9), (b"mid", 5)):
        channel.basic_publish("", q, body, pika.BasicProperties(priority=prio))
    wait_for(lambda: _count(channel, q) == 4, 10)
    assert [_get(channel, q)[2] for _ in range(4)] == [b"high", b"mid", b"low", b"none"]
    with pytest.raises(ChannelClosedByBroker) as exc:
        channel.connection.channel().queue_declare(unique_name + "-x", arguments={"x-max-priority": 256})
    assert exc.value.reply_text == (f"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{unique_name}-x' "
                                    "in vhost '/': {value_too_large,256,255}")


def test_exclusive_queue_is_locked_to_its_connection_and_deleted_with_it(connect, unique_name):
    owner = connect()
    other = connect()
    owner.channel().queue_declare(unique_name, exclusive=True)
    for op in (lambda ch: ch.queue_declare(unique_name, exclusive=True),
               lambda ch: ch.basic_consume(unique_name, lambda *a: None),
               lambda ch: ch.queue_declare(unique_name, passive=True)):
        with pytest.raises(ChannelClosedByBroker) as exc:
            op(other.channel())
        assert exc.value.reply_code == 405
        assert exc.value.reply_text.startswith(f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue "
                                               f"'{unique_name}' in vhost '/'")
    owner.close()

    def gone():
        try:
            other.channel().queue_declare(unique_name, passive=True)
            return False
        except ChannelClosedByBroker as exc:
            return exc.reply_code == 404
    wait_for(gone, 10)


def test_auto_delete_queue_goes_with_its_last_consumer_and_x_expires(channel, unique_name):
    q = channel.queue_declare(unique_name, auto_delete=True).method.queue
    tag = channel.basic_consume(q, lambda *a: None)
    channel.basic_cancel(tag)

    def gone(name):
        try:
            channel.connection.channel().queue_declare(name, passive=True)
            return False
        except ChannelClosedByBroker as exc:
            return exc.reply_code == 404
    wait_for(lambda: gone(q), 10)
    e = channel.queue_declare(unique_name + "-e", arguments={"x-expires": 200}).method.queue
    wait_for(lambda: gone(e), 10)


def test_single_active_consumer_hands_over_in_order(connect, unique_name):
    ch = connect().channel()
    q = ch.queue_declare(unique_name, arguments={"x-single-active-consumer": True}).method.queue
    got = {"a": [], "b": []}
    ta = ch.basic_consume(q, lambda c, m, p, b: (got["a"].append(b), c.basic_ack(m.delivery_tag)))
    ch.basic_consume(q, lambda c, m, p, b: (got["b"].append(b), c.basic_ack(m.delivery_tag)))
    for i in range(4):
        ch.basic_publish("", q, b"%d" % i)
    wait_for(lambda: ch.connection.process_data_events(time_limit=0.05) or len(got["a"]) == 4, 10)
    assert got["b"] == []
    ch.basic_cancel(ta)
    ch.basic_publish("", q, b"4")
    wait_for(lambda: ch.connection.process_data_events(time_limit=0.05) or got["b"] == [b"4"], 10)


def test_quorum_delivery_limit_dead_letters(channel, unique_name):
    dlq = unique_name + "-dlq"
    channel.queue_declare(dlq)
    q = channel.queue_declare(unique_name, durable=True, arguments={
        "x-queue-type": "quorum", "x-delivery-limit": 1, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dlq}).method.queue
    channel.basic_publish("", q, b"poison")
    for _ in range(2):
        m = _get_unacked(channel, q)
        channel.basic_nack(m[0].delivery_tag, requeue=True)
    method, props, body = _get(channel, dlq)
    assert body == b"poison" and props.headers["x-death"][0]["reason"] == "delivery_limit"
    with pytest.raises(ChannelClosedByBroker) as exc:
        channel.queue_declare(unique_name + "-q", durable=False, arguments={"x-queue-type": "quorum"})
    assert exc.value.reply_text == (f"PRECONDITION_FAILED - invalid property 'non-durable' for queue "
                                    f"'{unique_name}-q' in vhost '/'")


def test_direct_reply_to_rpc(connect, unique_name):
    server_ch = connect().channel()
    client_ch = connect().channel()
    server_ch.queue_declare(unique_name)

    def serve(ch, method, props, body):
        ch.basic_publish("", props.reply_to, b"re:" + body, pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)
    server_ch.basic_consume(unique_name, serve)
    replies = []
    client_ch.basic_consume("amq.rabbitmq.reply-to", lambda c, m, p, b: replies.append((p.correlation_id, b)),
                            auto_ack=True)
    client_ch.basic_publish("", unique_name, b"ping", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                                           correlation_id="42"))

    def pump():
        server_ch.connection.process_data_events(time_limit=0.02)
        client_ch.connection.process_data_events(time_limit=0.02)
        return replies
    wait_for(pump, 10)
    assert replies == [("42", b"re:ping")]
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch = connect().channel()
        ch.basic_publish("", unique_name, b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
        ch.queue_declare(unique_name, passive=True)
    assert exc.value.reply_text == "PRECONDITION_FAILED - fast reply consumer does not exist"


def test_transactions_commit_and_rollback(channel, unique_name):
    q = channel.queue_declare(unique_name).method.queue
    channel.tx_select()
    channel.basic_publish("", q, b"rolled back")
    channel.tx_rollback()
    channel.basic_publish("", q, b"committed")
    assert _count(channel, q) == 0
    channel.tx_commit()
    assert _count(channel, q) == 1
    m = _get_unacked(channel, q)
    channel.basic_ack(m[0].delivery_tag)
    channel.tx_rollback()          # the ack is undone: still unacked
    assert _count(channel, q) == 0
    channel.basic_ack(m[0].delivery_tag)
    channel.tx_commit()            # commit-ok once the ack is applied: the queue is empty
    assert channel.connection.channel().queue_delete(q, if_empty=True).method.message_count == 0
    ch = channel.connection.channel()
    ch.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.tx_select()
    assert exc.value.reply_text == "PRECONDITION_FAILED - cannot switch from confirm to tx mode"


def test_consumer_cancel_notification_on_queue_delete(connect, unique_name):
    ch = connect().channel()
    q = ch.queue_declare(unique_name).method.queue
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None)
    connect().channel().queue_delete(q)
    wait_for(lambda: ch.connection.process_data_events(time_limit=0.05) or cancelled, 10)
    assert cancelled == [tag]


def test_recover_requeues_unacked_and_channel_close_requeues(connect, unique_name):
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare(unique_name).method.queue
    ch.basic_publish("", q, b"a")
    m = _get_unacked(ch, q)
    assert m[0].redelivered is False
    ch.basic_recover(requeue=True)
    m = _get_unacked(ch, q)
    assert m[2] == b"a" and m[0].redelivered is True
    ch.close()
    ch2 = conn.channel()
    wait_for(lambda: _count(ch2, q) == 1, 10)


def test_channel_flow_pauses_deliveries(connect, unique_name):
    ch = connect().channel()
    q = ch.queue_declare(unique_name).method.queue
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    ch.flow(False)
    ch.basic_publish("", q, b"held")
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        ch.connection.process_data_events(time_limit=0.05)
    assert got == []
    ch.flow(True)
    wait_for(lambda: ch.connection.process_data_events(time_limit=0.05) or got, 10)
    assert got == [b"held"]


def test_global_qos_exclusive_consumer_internal_and_auto_delete_exchanges(connect, unique_name):
    conn = connect()
    ch = conn.channel()
    qa = ch.queue_declare(unique_name + "-a").method.queue
    qb = ch.queue_declare(unique_name + "-b").method.queue
    for q in (qa, qb):
        for i in range(5):
            ch.basic_publish("", q, b"%d" % i)
    wait_for(lambda: _count(ch, qa) == 5 and _count(ch, qb) == 5, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)           # shared by both consumers of the channel
    got = []
    ch.basic_consume(qa, lambda c, m, p, b: got.append(m.delivery_tag))
    ch.basic_consume(qb, lambda c, m, p, b: got.append(m.delivery_tag))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert len(got) == 3
    ch.basic_ack(got[-1], multiple=True)
    wait_for(lambda: conn.process_data_events(time_limit=0.05) or len(got) >= 6, 10)
    assert len(got) == 6
    # exclusive consumer: refused while another consumes, and blocks others
    other = connect().channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        other.basic_consume(qa, lambda *a: None, exclusive=True)
    assert exc.value.reply_text == f"ACCESS_REFUSED - queue '{qa}' in vhost '/' in exclusive use"
    qc = connect().channel()
    qcn = qc.queue_declare(unique_name + "-c").method.queue
    qc.basic_consume(qcn, lambda *a: None, exclusive=True)
    with pytest.raises(ChannelClosedByBroker) as exc:
        connect().channel().basic_consume(qcn, lambda *a: None)
    assert exc.value.reply_code == 403
    # internal exchange: bindable, not publishable
    x = connect().channel()
    x.exchange_declare(unique_name + "-int", "fanout", internal=True)
    x.basic_publish(unique_name + "-int", "", b"no")
    with pytest.raises(ChannelClosedByBroker) as exc:
        x.queue_declare(qa, passive=True)
    assert exc.value.reply_text == (f"ACCESS_REFUSED - cannot publish to internal exchange '{unique_name}-int' "
                                    "in vhost '/'")
    # auto-delete exchange goes with its last binding
    y = connect().channel()
    y.exchange_declare(unique_name + "-ad", "direct", auto_delete=True)
    y.queue_bind(qa, unique_name + "-ad", "k")
    y.queue_unbind(qa, unique_name + "-ad", "k")

    def gone():
        try:
            connect().channel().exchange_declare(unique_name + "-ad", passive=True)
            return False
        except ChannelClosedByBroker as e:
            return e.reply_code == 404
    wait_for(gone, 10)


def test_max_length_bytes_counts_bodies(channel, unique_name):
    q = channel.queue_declare(unique_name, arguments={"x-max-length-bytes": 25}).method.queue
    for i in range(5):
        channel.basic_publish("", q, b"%d" % i * 10)            # 10-byte bodies: two fit
    wait_for(lambda: _count(channel, q) == 2, 10)
    assert [_get(channel, q)[2] for _ in range(2)] == [b"3" * 10, b"4" * 10]


def test_sender_selected_distribution_cc_and_bcc(channel, unique_name):
    x = unique_name + "-x"
    channel.exchange_declare(x, "direct")
    qs = [channel.queue_declare(f"{unique_name}-{k}").method.queue for k in ("a", "b", "c")]
    for q, k in zip(qs, ("ka", "kb", "kc")):
        channel.queue_bind(q, x, k)
    channel.basic_publish(x, "ka", b"m", pika.BasicProperties(headers={"CC": ["kb"], "BCC": ["kc"], "h": 1}))
    got = [_get(channel, q) for q in qs]
    assert [g[2] for g in got] == [b"m", b"m", b"m"]
    for _method, props, _body in got:
        assert props.headers == {"CC": ["kb"], "h": 1}           # BCC is not delivered


def test_default_amqps_listener(server, unique_name):
    import ssl
    host, port = server.endpoints["amqps"].split("//")[1].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=server.ca_cert)
    conn = pika.BlockingConnection(pika.ConnectionParameters(host, int(port), heartbeat=0,
                                                             ssl_options=pika.SSLOptions(ctx, host)))
    ch = conn.channel()
    q = ch.queue_declare(unique_name).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"over tls" * 20000)          # several frames through TLS
    assert _get(ch, q)[2] == b"over tls" * 20000
    conn.close()


def test_a_queue_declared_by_several_clients_at_once_routes_at_every_declare_ok(server, channel, unique_name):
    """Declare-ok means the default exchange routes to the queue, also for the client
    whose declare found the queue just created by another one (its default binding may
    still be on its way): a confirmed publish right after it is never dropped unroutable."""
    import asyncio

    import aio_pika
    from tests.protocols.amqp.conftest import amqp_port
    url = f"amqp://guest:guest@127.0.0.1:{amqp_port(server)}/"
    names = [f"{unique_name}-{i}" for i in range(20)]

    async def client(k: int) -> None:
        conn = await aio_pika.connect(url)
        ch = await conn.channel(publisher_confirms=True)
        for q in names:
            await ch.declare_queue(q, durable=True)
            await ch.default_exchange.publish(aio_pika.Message(b"%d" % k), routing_key=q)
        await conn.close()

    async def main():
        await asyncio.gather(*(client(k) for k in range(4)))
    asyncio.run(main())
    for q in names:
        got = sorted(m[2] for m in (channel.basic_get(q, auto_ack=True) for _ in range(5)) if m[0] is not None)
        assert got == [b"0", b"1", b"2", b"3"], q
        channel.queue_delete(q)
