"""Other real clients: pika's asyncio adapter, aio-pika, and Node's amqplib."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import aio_pika
import pika
import pytest
from pika.adapters.asyncio_connection import AsyncioConnection

from tests.protocols.amqp.conftest import amqp_port

NODE_DIR = Path(__file__).resolve().parents[2] / "node"


def test_pika_asyncio_adapter(server, unique_name):
    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        state = {"got": []}
        params = pika.ConnectionParameters("127.0.0.1", amqp_port(server), heartbeat=0)

        def on_open(conn):
            conn.channel(on_open_callback=on_channel)

        def on_channel(ch):
            state["ch"] = ch
            ch.confirm_delivery(lambda frame: state.setdefault("acks", []).append(frame.method.delivery_tag))
            ch.queue_declare(unique_name, callback=on_declared)

        def on_declared(frame):
            ch = state["ch"]
            ch.basic_consume(unique_name, on_message)
            for i in range(3):
                ch.basic_publish("", unique_name, b"a%d" % i)

        def on_message(ch, method, props, body):
            state["got"].append(body)
            ch.basic_ack(method.delivery_tag)
            if len(state["got"]) == 3 and not done.done():
                done.set_result(True)

        conn = AsyncioConnection(params, on_open_callback=on_open,
                                 on_open_error_callback=lambda c, e: done.set_exception(RuntimeError(e)))
        await asyncio.wait_for(done, 20)
        conn.close()
        return state
    state = asyncio.run(main())
    assert state["got"] == [b"a0", b"a1", b"a2"]
    assert state["acks"] and max(state["acks"]) == 3


def test_aio_pika_publish_consume_rpc(server, unique_name):
    async def main():
        conn = await aio_pika.connect_robust(f"amqp://guest:guest@127.0.0.1:{amqp_port(server)}/")
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            await ch.set_qos(prefetch_count=5)
            ex = await ch.declare_exchange(unique_name + "-x", aio_pika.ExchangeType.FANOUT)
            q = await ch.declare_queue(unique_name, auto_delete=True)
            await q.bind(ex)
            for i in range(5):
                await ex.publish(aio_pika.Message(b"p%d" % i, headers={"i": i}, priority=1), routing_key="")
            seen = []
            async with q.iterator() as it:
                async for message in it:
                    async with message.process():
                        seen.append((message.body, message.headers["i"]))
                    if len(seen) == 5:
                        break
            # RPC with aio-pika's own pattern (direct reply-to)
            from aio_pika.patterns import RPC
            rpc = await RPC.create(ch)
            async def double(*, x):
                return x * 2
            await rpc.register("double", double, auto_delete=True)
            result = await rpc.call("double", kwargs={"x": 21})
            await rpc.close()
            return seen, result
    seen, result = asyncio.run(main())
    assert seen == [(b"p%d" % i, i) for i in range(5)]
    assert result == 42


def test_node_amqplib(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "amqplib").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    env = dict(os.environ, BROKER_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{amqp_port(server)}")
    p = subprocess.run([node, str(NODE_DIR / "amqp_smoke.mjs")], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["serverProduct"] == "RabbitMQ"
    assert out["confirmed"] and out["returned"] == ["NO_ROUTE"]
    assert [g["body"] for g in out["got"]] == ["m1", "m2", "m3", "m2"]
    assert out["got"][3]["redelivered"] is True and out["got"][0]["n"] == 1
    assert out["dead"] == {"body": "m3", "reason": "rejected"}
    assert out["reply"] == {"body": "re:ping", "correlationId": "7"}
    assert out["error"].startswith("Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "
                                   "\"NOT_FOUND - no queue 'missing-")
