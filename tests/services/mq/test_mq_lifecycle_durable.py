"""Own servers: a broker's lifecycle steps (CreateBroker, RebootBroker,
DeleteBroker) are run by the shard owning its record, so a kill -9 of the
gateway that took the call, or of that shard, mid-step does not leave the
broker IN_PROGRESS. The supervisor is stopped (SIGSTOP) while the call is
made, so the listeners cannot have been opened before the kill."""

from __future__ import annotations

import contextlib
import os
import signal

import pika
import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import BrokerProcess, wait_for

PASSWORD = "correct-horse-9"


def _create(mq, name):
    return mq.create_broker(BrokerName=name, EngineType="RABBITMQ", HostInstanceType="mq.m5.large",
                            DeploymentMode="SINGLE_INSTANCE", PubliclyAccessible=False,
                            Users=[{"Username": "admin", "Password": PASSWORD}])["BrokerId"]


def _state(mq, bid) -> str:
    return mq.describe_broker(BrokerId=bid)["BrokerState"]


def _running(mq, bid) -> dict:
    return wait_for(lambda: (d := mq.describe_broker(BrokerId=bid))["BrokerState"] == "RUNNING" and d, 30,
                    what="broker RUNNING")


def _amqp(endpoints: list[str]) -> pika.BlockingConnection:
    url = next(e for e in endpoints if e.startswith("amqp://"))
    host, port = url[len("amqp://"):].rsplit(":", 1)
    return pika.BlockingConnection(pika.ConnectionParameters(
        host, int(port), credentials=pika.PlainCredentials("admin", PASSWORD), heartbeat=0))


@contextlib.contextmanager
def _supervisor_stopped(proc):
    """No listener can be opened or closed meanwhile; the workers run on."""
    sup = proc.pids("supervisor")[0]
    os.kill(sup, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(sup, signal.SIGCONT)


def _cut(proc, role: str, call, state: str):
    """Make `call(mq)` with the supervisor stopped, check the broker is in `state`,
    kill -9 the `role` worker, let the supervisor go on; a fresh client after."""
    victim = proc.pids(role)[0]
    mq = proc.client("mq")
    with _supervisor_stopped(proc):
        bid = call(mq)
        assert _state(mq, bid) == state
        os.kill(victim, signal.SIGKILL)
    return bid, wait_for(lambda: proc.wait_healthy() and proc.client("mq"), 30)


def test_steps_finish_after_the_gateway_that_took_the_call_is_killed(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--single-worker", "false") as proc:
        bid, mq = _cut(proc, "gateway", lambda mq: _create(mq, "created-while-its-gateway-dies"),
                       "CREATION_IN_PROGRESS")
        d = _running(mq, bid)
        conn = _amqp(d["BrokerInstances"][0]["Endpoints"])
        ch = conn.channel()
        ch.queue_declare("kept", durable=True)
        ch.confirm_delivery()
        ch.basic_publish("", "kept", b"before the reboot", pika.BasicProperties(delivery_mode=2))
        conn.close()

        _, mq = _cut(proc, "gateway", lambda mq: mq.reboot_broker(BrokerId=bid) and bid, "REBOOT_IN_PROGRESS")
        after = _running(mq, bid)
        assert after["BrokerInstances"][0]["Endpoints"] == d["BrokerInstances"][0]["Endpoints"]
        conn = wait_for(lambda: _amqp(after["BrokerInstances"][0]["Endpoints"]), 10)
        assert conn.channel().basic_get("kept", auto_ack=True)[2] == b"before the reboot"
        conn.close()

        _, mq = _cut(proc, "gateway", lambda mq: mq.delete_broker(BrokerId=bid) and bid, "DELETION_IN_PROGRESS")

        def gone():
            try:
                mq.describe_broker(BrokerId=bid)
                return False
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "NotFoundException"
        wait_for(gone, 30, what="broker deleted")
        assert not any(r["name"].startswith(f"mq-{bid}-") for r in proc.control_call("listeners"))
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            _amqp(d["BrokerInstances"][0]["Endpoints"])


def test_a_step_cut_by_a_shard_kill_runs_again_after_its_restart(tmp_path):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1", "--single-worker", "false") as proc:
        bid, mq = _cut(proc, "shard", lambda mq: _create(mq, "created-while-its-shard-dies"), "CREATION_IN_PROGRESS")
        d = _running(mq, bid)
        _amqp(d["BrokerInstances"][0]["Endpoints"]).close()
