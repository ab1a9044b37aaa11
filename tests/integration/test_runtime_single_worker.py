"""`server.single_worker` (default true): one gateway and one shard in one worker process
(the small profile, `--workers 1 --shards 1`). Clients see the same server; a
kill -9 of that process loses nothing acknowledged and both come back; a drain
stops the gateway, then the shard."""

from __future__ import annotations

import os
import signal
import urllib.request

import pika
import psutil
import pytest

from tests.helpers.brokerproc import BrokerProcess, wait_for


def _amqp_params(b: BrokerProcess) -> pika.ConnectionParameters:
    return pika.ConnectionParameters("127.0.0.1", int(b.endpoints["amqp"].rsplit(":", 1)[1]),
                                     connection_attempts=5, retry_delay=0.2)


def test_one_worker_process_serves_restarts_and_drains(tmp_path):
    b = BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "1")     # one process by default
    try:
        (shard,), (gateway,) = b.pids("shard"), b.pids("gateway")
        assert shard == gateway                              # one process holds both roles
        assert [c.pid for c in psutil.Process(b.pid).children()] == [shard]
        sqs = b.client("sqs")
        url = sqs.create_queue(QueueName="single")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="before the kill")
        conn = pika.BlockingConnection(_amqp_params(b))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("single-q", durable=True)
        ch.basic_publish("", "single-q", b"confirmed", pika.BasicProperties(delivery_mode=2))
        metrics = urllib.request.urlopen(b.url + "/_broker/metrics", timeout=10).read().decode()
        rss = [line for line in metrics.splitlines() if line.startswith("process_resident_memory_bytes{")]
        assert len(rss) == 1 and 'process="gateway-0"' in rss[0]    # one process, counted once
        assert 'broker_commits_total{process="shard-0"}' in metrics
        old, new = b.kill_worker("gateway", 0)              # kill -9 of the one worker
        assert old == shard and new != old
        assert b.pids("shard") == [new]                      # the shard came back in the same new process
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        assert [m["Body"] for m in got] == ["before the kill"]
        ch = pika.BlockingConnection(_amqp_params(b)).channel()
        method, _, body = wait_for(lambda: ch.basic_get("single-q", auto_ack=True), 10,
                                   what="the confirmed message")
        assert body == b"confirmed"
        os.killpg(b.pgid, signal.SIGINT)                     # Ctrl-C: the supervisor drains in order
        assert b.wait_exit(12) == 0, b.log_text()
        log = b.log_text(100000)
        assert "single_worker=True" in log and "Traceback" not in log
        assert log.index("event=gateway_stopped") < log.rindex("event=shard_stopped")
    finally:
        b.close()


@pytest.mark.parametrize("workers, single", [("2", "true"), ("1", "false")])
def test_separate_processes_with_more_gateways_or_when_turned_off(tmp_path, workers, single):
    with BrokerProcess(tmp_path / "d", "--workers", workers, "--shards", "1", "--single-worker", single) as b:
        assert len(set(b.pids("gateway")) | set(b.pids("shard"))) == int(workers) + 1
        assert len(psutil.Process(b.pid).children()) == int(workers) + 1
        assert "single_worker=False" in b.log_text()
